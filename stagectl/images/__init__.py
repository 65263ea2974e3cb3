"""Container images built here, for machines where no registry answers (see `build_images`)."""

from stagectl.images.build import BuildResult, ImageOutcome, build_images, missing_images
from stagectl.images.catalog import CATALOG, LOCAL_PREFIX, ImageSpec, images_for_services

__all__ = [
    "CATALOG", "LOCAL_PREFIX", "BuildResult", "ImageOutcome", "ImageSpec",
    "build_images", "images_for_services", "missing_images",
]
