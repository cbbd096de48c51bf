"""The camera module."""

import os as _os

# OpenCV reads this when it is first imported (by any module of this package): without it,
# a camera that cannot be opened prints raw driver warnings ("[ WARN:0@0.19] global
# cap_v4l.cpp:914 ...") before our own sentence that says what to check.
_os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
