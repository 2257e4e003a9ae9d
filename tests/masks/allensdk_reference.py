"""A literal, slow re-statement of AllenSDK's roi_masks algorithm (version 2.16).

The tests hold segdb.masks to this. It follows AllenSDK step by step, with its data
types, so that any difference in results is segdb's: full-image planes, ``np.argwhere``
bounding boxes, the edge-by-edge clamp of neuropil boxes, a uint8 union of ROIs
compared with ``>``, one full-image ``binary_dilation`` per ROI, and traces summed
per mask and per block of frames in the movie's own dtype before dividing by the
pixel count. It handles only what AllenSDK handles: boolean masks and string labels.

It imports nothing from segdb (and not AllenSDK either, which the tests must not need).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.ndimage


class RefMask:
    """A mask as AllenSDK holds it: box, boolean box mask, flags, label, kind."""

    def __init__(self, kind: str, image_w: int, image_h: int, label, mask_group=-1):
        self.kind = kind  # "roi" or "neuropil"
        self.img_cols = image_w
        self.img_rows = image_h
        self.label = label
        self.mask_group = mask_group
        self.x = self.y = self.width = self.height = 0
        self.mask = None
        self.flags = set()

    def plane(self):
        out = np.zeros((self.img_rows, self.img_cols))
        if self.mask is not None:
            out[self.y : self.y + self.height, self.x : self.x + self.width] = self.mask
        return out


def insets(border, image_w, image_h):
    """(first_col, last_col, first_row, last_row) of the usable area, inclusive."""
    return (
        math.ceil(border[0]),
        math.floor(image_w - border[1]) - 1,
        math.ceil(border[2]),
        math.floor(image_h - border[3]) - 1,
    )


def roi_from_array(image_w, image_h, border, array, label=None, mask_group=-1):
    m = RefMask("roi", image_w, image_h, label, mask_group)
    px = np.argwhere(array)
    if len(px) == 0:
        m.flags.add("zero_pixels")
        return m
    top, left = px.min(0)
    bottom, right = px.max(0)
    first_col, last_col, first_row, last_row = insets(border, image_w, image_h)
    if left < first_col or right > last_col:
        m.flags.add("overlaps_motion_border")
    if top < first_row or bottom > last_row:
        m.flags.add("overlaps_motion_border")
    m.x, m.y = int(left), int(top)
    m.width, m.height = int(right - left + 1), int(bottom - top + 1)
    m.mask = array[top : bottom + 1, left : right + 1]
    return m


def roi_from_pixels(image_w, image_h, border, pix_list, label=None, mask_group=-1):
    array = np.zeros((image_h, image_w), dtype=bool)
    array[pix_list[:, 1], pix_list[:, 0]] = 1
    return roi_from_array(image_w, image_h, border, array, label, mask_group)


def neuropil_from_array(image_w, image_h, border, array, label=None, mask_group=-1):
    m = RefMask("neuropil", image_w, image_h, label, mask_group)
    px = np.argwhere(array)
    if len(px) == 0:
        m.flags.add("zero_pixels")
        return m
    top, left = px.min(0)
    bottom, right = px.max(0)
    first_col, last_col, first_row, last_row = insets(border, image_w, image_h)
    if left < first_col:
        left = first_col
        right = max(right, first_col)
    if right > last_col:
        right = last_col
        left = min(left, last_col)
    if top < first_row:
        top = first_row
        bottom = max(bottom, first_row)
    if bottom > last_row:
        bottom = last_row
        top = min(top, last_row)
    m.x, m.y = int(left), int(top)
    m.width, m.height = int(right - left + 1), int(bottom - top + 1)
    m.mask = array[top : bottom + 1, left : right + 1]
    return m


def union_of(rois):
    """AllenSDK's combined mask: uint8 planes of every ROI, maximum over ROIs."""
    stack = np.zeros((len(rois), rois[0].img_rows, rois[0].img_cols), dtype=np.uint8)
    for i, roi in enumerate(rois):
        stack[i] = roi.plane()
    return stack.max(axis=0)


def neuropil_of(roi, border, union, label=None):
    binary = np.zeros((roi.img_rows, roi.img_cols))
    if roi.mask is not None:
        binary[roi.y : roi.y + roi.height, roi.x : roi.x + roi.width] = roi.mask
    binary = binary > 0
    dilated = scipy.ndimage.binary_dilation(binary, structure=np.ones((3, 3)), iterations=13)
    dilated = dilated > union
    return neuropil_from_array(roi.img_cols, roi.img_rows, border, dilated, label, roi.mask_group)


def validate(mask):
    out = []
    if "zero_pixels" in mask.flags or mask.mask.sum() == 0:
        name = "empty_neuropil_mask" if mask.kind == "neuropil" else "empty_roi_mask"
        out.append({"roi_id": mask.label, "exclusion_label_name": name})
    if "overlaps_motion_border" in mask.flags:
        out.append({"roi_id": mask.label, "exclusion_label_name": "motion_border"})
    return out


def traces_of(stack, masks, block_size=1000):
    n_frames = stack.shape[0]
    traces = np.zeros((len(masks), n_frames), dtype=float)
    areas = np.zeros(len(masks), dtype=float)
    valid = np.ones(len(masks), dtype=bool)
    exclusions = []
    for i, mask in enumerate(masks):
        reasons = validate(mask)
        if reasons:
            traces[i, :] = np.nan
            valid[i] = False
            exclusions.extend(reasons)
            continue
        areas[i] = mask.mask.sum()
    for start in range(0, n_frames, block_size):
        frames = stack[start : start + block_size]
        for i, mask in enumerate(masks):
            if not valid[i]:
                continue
            sub = frames[:, mask.y : mask.y + mask.height, mask.x : mask.x + mask.width]
            total = sub[:, mask.mask].sum(axis=1)
            traces[i, start : start + block_size] = total / areas[i]
    return traces, exclusions


def roi_and_neuropil_traces(stack, rois, border):
    union = union_of(rois)
    neuropils = [neuropil_of(roi, border, union, "neuropil for " + roi.label) for roi in rois]
    traces, exclusions = traces_of(stack, list(rois) + neuropils)
    return traces[: len(rois)], traces[len(rois) :], exclusions, neuropils
