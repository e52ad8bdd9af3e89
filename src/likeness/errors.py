"""The exceptions likeness raises on bad input, in one small tree.

::

    LikenessError                 base of every error likeness raises on purpose
    ├── ImageLoadError            a file could not be decoded into a trustworthy array
    ├── PairingError              files could not be paired unambiguously
    ├── ImageMismatchError        two images cannot be compared as they are (size, channels)
    ├── ImageTooSmallError        an image is too small for a metric
    ├── WeightsError              a checkpoint is missing, fails verification or does not fit
    └── StorageError              a cache or results file cannot be read or written (full
                                  disk, read-only folder, a path that is not a file)

``LikenessError`` derives from ``ValueError`` so that code written against scikit-image,
which raises ``ValueError`` for bad input, keeps working.
"""

from __future__ import annotations


class LikenessError(ValueError):
    """Base class of every error likeness raises on bad input."""


class ImageLoadError(LikenessError):
    """A file could not be decoded into a trustworthy pixel array."""


class PairingError(LikenessError):
    """Reference and test files could not be paired unambiguously."""


class ImageMismatchError(LikenessError):
    """Two images differ in a way that a metric cannot bridge without a user decision."""


class ImageTooSmallError(LikenessError):
    """An image is smaller than a metric needs."""


class UnsupportedImageError(LikenessError):
    """An image is of a kind a metric is not defined for (FSIMc of a gray image)."""


class WeightsError(LikenessError):
    """A network checkpoint is missing, fails verification, or does not fit the network."""


class StorageError(LikenessError):
    """A cache database or a results file cannot be read or written."""
