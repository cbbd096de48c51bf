"""What a figure was measured with, for a bench's first line.

The rendered scenes and the detector both run through OpenCV and NumPy, which the edge extra
does not pin (a Pi gets whatever wheel its platform has): a new install may move a figure by
a visit or two. A run that names its versions can be reproduced, or told apart.
"""

from __future__ import annotations

import platform

import cv2
import numpy as np


def versions() -> str:
    return f"Python {platform.python_version()}, NumPy {np.__version__}, OpenCV {cv2.__version__}"
