"""ANN-to-SNN conversion with data-driven thresholds and initial membrane potentials."""
from .objective import conversion_error, spike_counts
from .threshold import METHODS, ThresholdResult, optimal_threshold

__all__ = ["conversion_error", "spike_counts", "METHODS", "ThresholdResult", "optimal_threshold"]
