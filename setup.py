"""Packages and the OpenCL sources (metadata lives in pyproject.toml).

The sources stay in the top-level ``kernels/`` folder of the checkout; a wheel
installs them as the package data ``fconv/_kernels/**/*.cl``, where
fconv/runtime/source.py looks first. An editable install finds them in the
checkout instead.
"""
from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["fconv", "fconv.*"]) + ["fconv._kernels"],
    package_dir={"fconv._kernels": "kernels"},
    package_data={"fconv._kernels": ["*.cl", "**/*.cl", "**/*.h"],
                  "fconv.conv": ["autotune_shipped.json"]},
    include_package_data=False,
)
