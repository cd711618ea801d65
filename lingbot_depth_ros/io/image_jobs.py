"""Images to predict and their sparse depth files (``lingbot-depth predict IMAGE [--sparse-depth SPARSE]``):
one file, or a folder of images paired with a folder of sparse depth files by stem."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lingbot_depth_ros.errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
SPARSE_SUFFIXES = (".png", ".npy", ".tif", ".tiff")


@dataclass
class Job:
    """One image to process and its optional sparse depth file."""

    image: Path
    sparse: Path | None


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def collect_jobs(image: Path, sparse: Path | None) -> list[Job]:
    """Pair images with sparse depth files (by stem when both are folders).

    Raises:
        InputError: missing paths, an empty folder, a folder paired with a single sparse file, or an
            image without a sparse file of the same stem.
    """
    if image.is_file():
        if sparse is not None and not sparse.is_file():
            raise InputError(f"--sparse-depth must be a file when IMAGE is a file: {sparse}")
        return [Job(image, sparse)]
    if not image.is_dir():
        raise InputError(f"image not found: {image}")
    images = _images_in(image)
    if not images:
        raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {image}")
    if sparse is None:
        return [Job(p, None) for p in images]
    if not sparse.is_dir():
        raise InputError(f"IMAGE is a folder, so --sparse-depth must be a folder of files named like the "
                         f"images: {sparse}")
    by_stem = {p.stem: p for p in sorted(sparse.iterdir()) if p.suffix.lower() in SPARSE_SUFFIXES}
    missing = [p.name for p in images if p.stem not in by_stem]
    if missing:
        raise InputError(f"no sparse depth file in {sparse} for: {', '.join(missing[:5])}"
                         f"{' ...' if len(missing) > 5 else ''}")
    return [Job(p, by_stem[p.stem]) for p in images]
