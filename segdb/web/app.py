"""The `segdb serve` application: pages over an archive, and the JSON they read and write.

Every label goes through the archive's curation store (:meth:`segdb.Archive.curate`), with the
revision the page saw, so history, conflicts, freezes and roles hold exactly as from the CLI.
Who labels is the request's curator (:mod:`segdb.web.login`: the one curator of this machine, or the
curator logged in to a lab server); writes need the page's token in a header (``X-SegDB-Token``),
which another site cannot send. No URL names a file: arrays are reached only through the archive.
"""

from __future__ import annotations

import functools
import io
import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel

from segdb.curation import LABELS, current_curator
from segdb.errors import ConflictError, InvalidInputError, NotFoundError, SegDBError
from segdb.web.login import AccessGuard, LabLogins, OneCurator, add_login_pages
from segdb.web.views import (
    archive_overview,
    image_pixels,
    last_track_labelling,
    matching_indices,
    plane_state,
    plane_view,
    roi_trace,
    run_view,
    track_crop,
    track_member_trace,
    track_state,
    track_view,
)

HERE = Path(__file__).resolve().parent
# The version of a track's curation its state answer reflects; a page sends it back to hear only of changes.
VERSION_HEADER = "X-SegDB-Version"
_STATUS = ((NotFoundError, 404), (InvalidInputError, 400), (ConflictError, 409))


class TrackLabelRequest(BaseModel):
    """A label for every session of a tracked cell: the label, an optional note, and the revision the
    page saw of each member ROI (by its ``roi_id``)."""

    label: str
    note: str | None = None
    revisions: dict[int, int]


class TagRequest(BaseModel):
    """A tag put on a ROI (by its key), or with ``remove`` taken off again (the curator's own), with an optional note."""

    key: int | str
    tag: str
    remove: bool = False
    note: str | None = None


class ManyLabelsRequest(BaseModel):
    """One label for many ROIs (those a filter shows), with the revision the page saw of each, by key."""

    keys: list[int | str]
    label: str
    note: str | None = None
    revisions: dict[str, int]


class LabelRequest(BaseModel):
    """A label as the page sends it: the ROI's key, the label, an optional note, and the revision seen."""

    key: int | str
    label: str
    note: str | None = None
    revision: int


def create_app(archive: Any, *, curator: str | None = None, users: str | os.PathLike | None = None,
               poll_seconds: float = 2.0) -> FastAPI:
    """The web application over ``archive`` (a :class:`segdb.Archive`). Labels are written as ``curator``
    (default: $SEGDB_CURATOR, else the OS user, as the CLI), or, given a ``users`` file
    (:mod:`segdb.web.users`), as whoever logged in. An open page asks for others' labels every
    ``poll_seconds``."""
    if users is not None and curator is not None:
        raise InvalidInputError(f"--curator {curator} and --users {users} do not go together: with a users file "
                                "each label is the logged-in curator's; leave out --curator")
    access = OneCurator(current_curator(curator)) if users is None else LabLogins(archive, users)
    app = FastAPI(title="segdb", docs_url=None, redoc_url=None, openapi_url=None)
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals["lab_server"] = access.lab
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.state.archive, app.state.access = archive, access
    app.add_middleware(AccessGuard, access=access, archive=archive)
    if users is not None:
        add_login_pages(app, access, templates)

    @app.exception_handler(SegDBError)
    async def segdb_error(request: Request, error: SegDBError) -> Response:
        status = next((code for kind, code in _STATUS if isinstance(error, kind)), 500)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": str(error)}, status_code=status)
        return templates.TemplateResponse(request, "error.html", {
            "message": str(error), "curator": getattr(request.state, "curator", None)}, status_code=status)

    @functools.lru_cache(maxsize=256)
    def plane_keys(segmentation: int, plane: str) -> tuple:
        """A plane's ROI keys in list order, read once: a segmentation is written once and its id is never
        reused (a deleted one is refused by the archive when its ROI is then asked for)."""
        return tuple(archive.plane_handle(segmentation, plane).roi_keys)

    @app.get("/", response_class=HTMLResponse)
    def archive_page(request: Request) -> Response:
        return templates.TemplateResponse(request, "archive.html", {
            "subjects": archive_overview(archive), "curator": request.state.curator, "archive": archive.catalog.url,
        })

    @app.get("/segmentations/{segmentation}", response_class=HTMLResponse)
    def segmentation_page(request: Request, segmentation: int, plane: str | None = None,
                          policy: str = "latest") -> Response:
        view = plane_view(archive, segmentation, plane or _first_plane(archive, segmentation), policy)
        return templates.TemplateResponse(request, "segmentation.html", {
            "view": view, "curator": request.state.curator, "token": request.state.token, "labels": LABELS,
            "poll_ms": int(poll_seconds * 1000),
        })

    @app.get("/api/segmentations/{segmentation}/planes/{plane}")
    def plane_data(segmentation: int, plane: str, policy: str = "latest") -> dict:
        return plane_view(archive, segmentation, plane, policy)

    @app.get("/api/segmentations/{segmentation}/planes/{plane}/state")
    def state(segmentation: int, plane: str, policy: str = "latest", version: str | None = None) -> dict:
        return plane_state(archive, segmentation, plane, policy, version)

    @app.get("/api/segmentations/{segmentation}/planes/{plane}/matching")
    def matching(segmentation: int, plane: str, where: str, policy: str = "latest") -> list:
        return matching_indices(archive, segmentation, plane, where, policy)

    @app.get("/api/segmentations/{segmentation}/planes/{plane}/images/{image}.png")
    def image(segmentation: int, plane: str, image: str, low: float = 1.0, high: float = 99.5) -> Response:
        return _png(image_pixels(archive, segmentation, plane, image, low, high))

    @app.get("/api/segmentations/{segmentation}/planes/{plane}/rois/{index}/trace")
    def trace(segmentation: int, plane: str, index: int, name: str = "raw", start: int | None = None,
              stop: int | None = None, width: int = 1000) -> dict:
        key = _key_at(plane_keys(segmentation, plane), segmentation, plane, index)
        return roi_trace(archive, segmentation, plane, key, name, start=start, stop=stop, width=width)

    @app.get("/api/segmentations/{segmentation}/planes/{plane}/rois/{index}/history")
    def history(segmentation: int, plane: str, index: int) -> list:
        key = _key_at(plane_keys(segmentation, plane), segmentation, plane, index)
        return [event.to_dict() for event in archive.curation_history(segmentation, key, plane=plane)]

    @app.post("/api/segmentations/{segmentation}/planes/{plane}/labels")
    def label(request: Request, segmentation: int, plane: str, body: LabelRequest) -> dict:
        if body.label not in LABELS:
            raise InvalidInputError(f"label {body.label!r} is not one of {', '.join(LABELS)}")
        [event] = archive.curate(segmentation, [body.key], body.label, plane=plane, note=body.note or None,
                                 curator=request.state.curator, expected_revision=body.revision)
        return event.to_dict()

    @app.post("/api/segmentations/{segmentation}/planes/{plane}/labels/many")
    def label_many(request: Request, segmentation: int, plane: str, body: ManyLabelsRequest) -> list:
        if body.label not in LABELS:
            raise InvalidInputError(f"label {body.label!r} is not one of {', '.join(LABELS)}")
        events = archive.curate(segmentation, body.keys, body.label, plane=plane, note=body.note or None,
                                curator=request.state.curator, expected_revision=body.revisions)
        return [event.to_dict() for event in events]

    @app.post("/api/segmentations/{segmentation}/planes/{plane}/tags")
    def tag(request: Request, segmentation: int, plane: str, body: TagRequest) -> dict:
        [event] = archive.tag_rois(segmentation, [body.key], body.tag, plane=plane, note=body.note or None,
                                   curator=request.state.curator, remove=body.remove)
        return event.to_dict()

    @app.post("/api/segmentations/{segmentation}/undo")
    def undo(request: Request, segmentation: int) -> list:
        return [event.to_dict() for event in archive.undo_curation(segmentation, curator=request.state.curator)]

    @app.get("/runs/{run}", response_class=HTMLResponse)
    def run_page(request: Request, run: int) -> Response:
        return templates.TemplateResponse(request, "run.html", {"run": run_view(archive, run),
                                                                "curator": request.state.curator})

    @app.get("/tracks/{track_id}", response_class=HTMLResponse)
    def track_page(request: Request, track_id: int, policy: str = "latest") -> Response:
        return templates.TemplateResponse(request, "track.html", {
            "view": track_view(archive, track_id, policy), "curator": request.state.curator,
            "token": request.state.token, "labels": LABELS, "poll_ms": int(poll_seconds * 1000),
        })

    @app.get("/api/tracks/{track_id}")
    def track_data(track_id: int, policy: str = "latest") -> dict:
        return track_view(archive, track_id, policy)

    @app.get("/api/tracks/{track_id}/state")
    def track_labels(track_id: int, policy: str = "latest", version: str | None = None) -> Response:
        current, rows = track_state(archive, track_id, policy, version)
        headers = {VERSION_HEADER: current}
        return Response(status_code=204, headers=headers) if rows is None else JSONResponse(rows, headers=headers)

    @app.get("/api/tracks/{track_id}/members/{index}/crop.png")
    def crop(track_id: int, index: int, image: str = "mean", low: float = 1.0, high: float = 99.5) -> Response:
        return _png(track_crop(archive, track_id, index, image, low, high))

    @app.get("/api/tracks/{track_id}/members/{index}/trace")
    def member_trace(track_id: int, index: int, name: str = "raw", width: int = 1000) -> dict:
        return track_member_trace(archive, track_id, index, name, width)

    @app.post("/api/tracks/{track_id}/labels")
    def label_track(request: Request, track_id: int, body: TrackLabelRequest) -> list:
        if body.label not in LABELS:
            raise InvalidInputError(f"label {body.label!r} is not one of {', '.join(LABELS)}")
        events = archive.curate_track(track_id, body.label, note=body.note or None, curator=request.state.curator,
                                      expected_revision=body.revisions)
        return [event.to_dict() for event in events]

    @app.post("/api/tracks/{track_id}/undo")
    def undo_track(request: Request, track_id: int) -> list:
        name = request.state.curator
        segmentation = last_track_labelling(archive, track_id, name)
        if segmentation is None:
            raise NotFoundError(f"{name} has not labelled any session of track {track_id}; nothing to undo")
        return [event.to_dict() for event in archive.undo_curation(segmentation, curator=name)]

    return app


def _png(pixels: Any) -> Response:
    """A PNG of grey (0-1, 2-D) or RGB pixels, which the browser may keep: arrays are written once."""
    from matplotlib.image import imsave

    buffer = io.BytesIO()
    options = {"cmap": "gray", "vmin": 0, "vmax": 1} if pixels.ndim == 2 else {}
    imsave(buffer, pixels, format="png", **options)
    return Response(buffer.getvalue(), media_type="image/png", headers={"Cache-Control": "max-age=3600"})


def _first_plane(archive: Any, segmentation: int) -> str:
    return archive.segmentation(segmentation).planes[0]


def _key_at(keys: tuple, segmentation: int, plane: str, index: int) -> Any:
    if not 0 <= index < len(keys):
        raise NotFoundError(f"plane {plane!r} of segmentation {segmentation} has ROIs 0..{len(keys) - 1}, not {index}")
    return keys[index]
