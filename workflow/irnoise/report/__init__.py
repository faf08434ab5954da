"""The study's outputs: the tidy metrics table (`collect`), Tables 1 and 2 and the
figures, built from the runs' metrics and the label files' statistics."""
