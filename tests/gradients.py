"""Central finite differences, for checking hand-written backward passes."""
import numpy


def numeric_gradient(f, array, eps: float = 1e-6):
    """d f() / d array, element by element (``array`` is perturbed in place
    and restored)."""
    grad = numpy.zeros_like(array, dtype="float64")
    for index in numpy.ndindex(array.shape):
        array[index] += eps
        up = f()
        array[index] -= 2 * eps
        down = f()
        array[index] += eps
        grad[index] = (up - down) / (2 * eps)
    return grad
