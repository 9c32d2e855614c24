"""The one C extension (``napari_dicomseries._walk``, the header element walk); everything else is in pyproject.toml.

Optional: without a C compiler the install goes on and ``rawheader`` runs the same loop in Python.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("napari_dicomseries._walk", ["src/napari_dicomseries/_walk.c"], optional=True),
    ]
)
