"""Mean and sample standard deviation over seeds."""
import statistics
from typing import Optional, Sequence, Tuple


def mean_std(values: Sequence[float]) -> Tuple[Optional[float], Optional[float]]:
    """(mean, sample std) of the values; std 0 for one value; (None, None) for none."""
    if not values:
        return None, None
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0
