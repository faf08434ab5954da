"""From raw images to training batches.

`datasets` reads each supported dataset in its native layout into one index of records
and splits; `synthetic` generates the embedded datasets in those same layouts;
`images` decodes, checks and resizes; `sharding` writes the WebDataset shards and
their manifest once per dataset; `loader` streams the shards back as batches, with
the noisy labels overlaid by row. `reference_histograms` holds the class-size
histograms of the real datasets, embedded as counts.
"""
