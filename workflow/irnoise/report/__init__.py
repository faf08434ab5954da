"""The study's outputs, from finished runs to tables and figures; nothing here trains.

`collect` turns the runs' metrics.json files into the tidy metrics table and its
per-condition summaries (means over seeds, relative drops); `table1` and `table2` build
the study's tables from that table and from the label files' statistics; `figures/`
draws each figure. Every input names the run or label set it belongs to (see
`irnoise.plan`).
"""
