"""Label-suspicion detectors: which training labels look wrong to a trained embedding model."""
