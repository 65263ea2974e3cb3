"""S3-backed endpoints: POST /api/files (``s3_uploads``), GET /api/files/{key} (``file_storage``),
POST /api/images (``image_processing``), POST /api/backups (``backup_operations``).

Bodies are raw bytes (no multipart parser needed); the middleware already caps their size.
"""
from __future__ import annotations

import asyncio
import io
import json
import re
import time
import uuid
from datetime import datetime, timezone

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from PIL import Image, UnidentifiedImageError

from .. import inventory_repo as repo
from ..services import Services, get_services
from ..web.errors import ApiError
from ..web.security import feature

router = APIRouter()
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
KEY_PATTERN = r"^(uploads|thumbnails|backups)/[A-Za-z0-9._-]{1,200}$"
THUMBNAIL_PX = 256


class ImageTooLarge(Exception):
    def __init__(self, size: tuple[int, int]):
        super().__init__(f"{size[0]}x{size[1]}")
        self.size = size


def _safe_name(name: str) -> str:
    cleaned = _UNSAFE.sub("_", name).strip("._")[:100]
    return cleaned or "file"


@router.post("/api/files", status_code=201, dependencies=[Depends(feature("s3_uploads"))])
async def upload_file(request: Request, filename: str = Query("file", max_length=200),
                      services: Services = Depends(get_services)) -> dict:
    body = await request.body()
    if not body:
        raise ApiError(422, "empty_body")
    key = f"uploads/{uuid.uuid4().hex}-{_safe_name(filename)}"
    content_type = request.headers.get("content-type", "application/octet-stream")[:100]
    await services.s3.put(key, body, content_type)
    return {"key": key, "size": len(body), "content_type": content_type, "stored": True}


@router.get("/api/files/{key:path}", dependencies=[Depends(feature("file_storage"))])
async def download_file(key: str = Path(pattern=KEY_PATTERN),
                        services: Services = Depends(get_services)) -> Response:
    found = await services.s3.get(key)
    if found is None:
        raise ApiError(404, "unknown_file", key=key)
    data, content_type = found
    # Served as an attachment: stored bytes are never rendered by a browser in our origin.
    return Response(data, media_type=content_type,
                     headers={"Content-Disposition": f'attachment; filename="{key.rsplit("/", 1)[-1]}"'})


def _thumbnail(data: bytes, max_pixels: int) -> tuple[bytes, tuple[int, int], tuple[int, int]]:
    # Pillow only warns between MAX_IMAGE_PIXELS and twice that (an 8900x8900 all-zero PNG of
    # 308 kB decoded to 600 MB), so the size from the header is checked here, before decoding;
    # Pillow's own guard, set to the same limit, then only catches what is beyond twice it.
    Image.MAX_IMAGE_PIXELS = max_pixels
    with Image.open(io.BytesIO(data)) as img:   # reads the header only
        original = img.size
        if original[0] * original[1] > max_pixels:
            raise ImageTooLarge(original)
        img.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
        out = io.BytesIO()
        img.convert("RGBA" if img.mode in ("RGBA", "LA", "P") else "RGB").save(out, format="PNG")
        return out.getvalue(), original, img.size


@router.post("/api/images", status_code=201, dependencies=[Depends(feature("image_processing"))])
async def upload_image(request: Request, services: Services = Depends(get_services)) -> dict:
    body = await request.body()
    max_pixels = int(services.settings.dashboard_max_image_pixels)
    try:
        png, original, size = await asyncio.to_thread(_thumbnail, body, max_pixels)
    except (ImageTooLarge, Image.DecompressionBombError):
        raise ApiError(413, "image_too_large", max_pixels=max_pixels) from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise ApiError(422, "invalid_image") from None
    key = f"thumbnails/{uuid.uuid4().hex}.png"
    await services.s3.put(key, png, "image/png")
    return {"key": key, "original_size": list(original), "thumbnail_size": list(size),
            "bytes": len(png), "stored": True}


@router.post("/api/backups", status_code=201, dependencies=[Depends(feature("backup_operations"))])
async def create_backup(services: Services = Depends(get_services)) -> dict:
    """Dump every product to S3 as one JSON document."""
    rows = await services.db.fetch_all(f"SELECT {repo.COLUMNS} FROM products ORDER BY sku")
    products = [repo.to_json(r) for r in rows]
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    document = json.dumps({"created_at": time.time(), "count": len(products), "products": products})
    key = f"backups/products-{stamp}.json"
    await services.s3.put(key, document.encode(), "application/json")
    return {"key": key, "count": len(products), "bytes": len(document), "stored": True}
