"""NWB export: what DANDI's validators, pynwb, roiextractors and segdb's own reader find in an exported file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from nwbinspector import Importance, inspect_nwbfile, load_config
from pynwb import NWBHDF5IO
from roiextractors import NwbSegmentationExtractor

from segdb.cli import main
from segdb.errors import ConflictError, InvalidInputError
from segdb.export import ccf_location
from segdb.ingest.frontends import ingest_path
from segdb.ingest.nwb import nwb_extractor
from segdb.synthetic import write_suite2p_folder

SEGMENTATION = "m12/2026-03-01/suite2p"


def _describe(archive, segmentation=SEGMENTATION):
    subject, session, _ = segmentation.split("/")
    archive.set_subject(subject, species="Mus musculus", sex="F", age="P90D", genotype="Ai93;Emx1-Cre",
                        strain="C57BL/6J")
    archive.set_session(f"{subject}/{session}", experimenters=["Doe, Jane"], description="spontaneous activity",
                        lab="Imaging Lab", institution="University of Edinburgh", session_start="2026-03-01T10:30")
    for plane in archive.planes(segmentation):
        archive.set_plane(segmentation, plane.name, indicator="GCaMP6s", location="VISp L2/3", excitation_nm=920,
                          emission_nm=510, device="Bruker Ultima")


@pytest.fixture
def suite2p_archive(archive, tmp_path):
    """A two-plane suite2p output with a non-square frame, ingested and fully described."""
    folder = write_suite2p_folder(tmp_path / "suite2p", n_planes=2, n_rois=12, n_frames=300, frame_shape=(40, 56),
                                  sampling_frequency=10.0, seed=3)
    ingest_path(archive, "suite2p", folder, subject="m12", session="2026-03-01", progress=False)
    _describe(archive)
    return archive


@pytest.fixture
def real_archive(archive, real_suite2p_dir):
    ingest_path(archive, "suite2p", real_suite2p_dir, subject="m12", session="2026-03-01", progress=False)
    _describe(archive)
    return archive


def _problems(path: Path) -> list:
    serious = (Importance.CRITICAL, Importance.BEST_PRACTICE_VIOLATION, Importance.ERROR, Importance.PYNWB_VALIDATION)
    return [m for m in inspect_nwbfile(nwbfile_path=str(path), config=load_config("dandi"))
            if m.importance in serious]


def _dandi(*arguments: str, cwd: Path) -> subprocess.CompletedProcess:
    dandi = Path(sys.executable).parent / "dandi"
    return subprocess.run([str(dandi), *arguments], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_a_real_session_passes_nwbinspector_and_dandi_validate(real_archive, tmp_path):
    dandiset = tmp_path / "dandiset"
    dandiset.mkdir()
    (dandiset / "dandiset.yaml").write_text('identifier: "DANDI:000000"\nname: segdb export\ndescription: test\n')
    [exported] = real_archive.export_nwb_files(dandiset, segmentation=SEGMENTATION, dandi=True, image_masks=True,
                                               progress=False)
    assert exported.path == dandiset / "sub-m12" / "sub-m12_ses-2026-03-01_ophys.nwb"
    assert _problems(exported.path) == []
    validated = _dandi("validate", ".", cwd=dandiset)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "No errors found" in validated.stdout
    # dandi organize names the file as segdb did.
    organized = tmp_path / "organized"
    organized.mkdir()
    (organized / "dandiset.yaml").write_text((dandiset / "dandiset.yaml").read_text())
    result = _dandi("organize", "--files-mode", "copy", "-d", str(organized), str(exported.path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [p.relative_to(organized) for p in organized.rglob("*.nwb")] == [Path("sub-m12/sub-m12_ophys.nwb")]


def test_pynwb_reads_every_plane_with_x_the_column(suite2p_archive, tmp_path):
    exported = suite2p_archive.export_nwb(SEGMENTATION, tmp_path / "out.nwb", progress=False)
    extractors = {plane: suite2p_archive.extractor(SEGMENTATION, plane=plane) for plane in ("plane0", "plane1")}
    with NWBHDF5IO(str(exported.path), "r") as io:
        nwbfile = io.read()
        assert nwbfile.subject.species == "Mus musculus" and nwbfile.subject.sex == "F"
        assert nwbfile.subject.age == "P90D" and nwbfile.experimenter == ("Doe, Jane",)
        assert nwbfile.session_start_time.isoformat() == "2026-03-01T10:30:00+00:00"
        assert nwbfile.was_generated_by[0][0] == "segdb"
        assert "policy 'latest'" in nwbfile.notes
        ophys = nwbfile.processing["ophys"]
        for plane, extractor in extractors.items():
            imaging_plane = nwbfile.imaging_planes[f"ImagingPlane{plane.capitalize()}"]
            assert (imaging_plane.indicator, imaging_plane.location) == ("GCaMP6s", "VISp2/3")
            assert imaging_plane.excitation_lambda == 920 and imaging_plane.imaging_rate == pytest.approx(10.0)
            table = ophys["ImageSegmentation"][f"PlaneSegmentation{plane.capitalize()}"]
            assert list(table.id[:]) == extractor.get_roi_ids()
            assert list(table["roi_name"][:]) == [str(i) for i in extractor.get_roi_ids()]
            for row, mask in enumerate(extractor.get_roi_pixel_masks()):
                pixels = table["pixel_mask"][row]
                # x is the column (< 56), y the row (< 40): the frame is not square.
                np.testing.assert_array_equal(pixels["x"], mask[:, 1])
                np.testing.assert_array_equal(pixels["y"], mask[:, 0])
                np.testing.assert_allclose(pixels["weight"], mask[:, 2], rtol=1e-6)
            assert max(p["x"].max() for p in table["pixel_mask"][:]) > 40
            raw = ophys["Fluorescence"][f"RoiResponseSeries{plane.capitalize()}"]
            np.testing.assert_allclose(raw.data[:], extractor.get_traces(name="raw"), rtol=1e-6)
            neuropil = ophys["Fluorescence"][f"Neuropil{plane.capitalize()}"]
            np.testing.assert_allclose(neuropil.data[:], extractor.get_traces(name="neuropil"), rtol=1e-6)
            images = ophys[f"SegmentationImages{plane.capitalize()}"]
            for name, image in extractor.get_images_dict().items():
                np.testing.assert_allclose(images[name].data[:].T, image, rtol=1e-6)
            for prop in ("skew", "npix"):
                np.testing.assert_allclose(table[prop][:], extractor.get_property(prop, extractor.get_roi_ids()))


def test_roiextractors_reads_an_image_mask_export(archive, tmp_path):
    folder = write_suite2p_folder(tmp_path / "suite2p", n_rois=9, n_frames=120, frame_shape=(30, 44), seed=5,
                                  sampling_frequency=7.5)
    ingest_path(archive, "suite2p", folder, subject="m12", session="2026-03-01", progress=False)
    _describe(archive)
    exported = archive.export_nwb(SEGMENTATION, tmp_path / "single.nwb", image_masks=True, progress=False)
    ours = archive.extractor(SEGMENTATION)
    theirs = NwbSegmentationExtractor(file_path=exported.path)
    assert theirs.get_num_rois() == ours.get_num_rois()
    assert tuple(theirs.get_frame_shape()) == (30, 44)
    assert theirs.get_sampling_frequency() == pytest.approx(7.5)
    np.testing.assert_allclose(theirs.get_roi_image_masks(), ours.get_roi_image_masks(), rtol=1e-6)
    for name in ("raw", "neuropil", "deconvolved"):
        np.testing.assert_allclose(theirs.get_traces(name=name), ours.get_traces(name=name), rtol=1e-6)
    for name, image in ours.get_images_dict().items():
        np.testing.assert_allclose(theirs.get_image(name), image, rtol=1e-6)


def test_segdb_reads_its_export_back_with_every_value(suite2p_archive, tmp_path):
    exported = suite2p_archive.export_nwb(SEGMENTATION, tmp_path / "out.nwb", progress=False)
    for plane in ("plane0", "plane1"):
        ours = suite2p_archive.extractor(SEGMENTATION, plane=plane)
        back = nwb_extractor(exported.path, plane_segmentation_name=f"PlaneSegmentation{plane.capitalize()}")
        suite2p_archive.ingest(back, subject="m12", session="2026-03-01", name=f"from-nwb-{plane}", plane=plane,
                               progress=False)
        again = suite2p_archive.extractor(f"m12/2026-03-01/from-nwb-{plane}")
        assert again.get_roi_ids() == ours.get_roi_ids()
        assert again.get_frame_shape() == ours.get_frame_shape()
        for a, b in zip(again.get_roi_pixel_masks(), ours.get_roi_pixel_masks()):
            np.testing.assert_allclose(a, b, rtol=1e-6)
        for name in ("raw", "neuropil", "deconvolved"):
            np.testing.assert_allclose(again.get_traces(name=name), ours.get_traces(name=name), rtol=1e-6)
        for name, image in ours.get_images_dict().items():
            np.testing.assert_allclose(again.get_image(name), image, rtol=1e-6)
        ids = ours.get_roi_ids()
        for prop in set(ours.get_property_keys()) - {"accepted", "iscell"}:
            np.testing.assert_allclose(again.get_property(prop, ids), ours.get_property(prop, ids), rtol=1e-6)
        np.testing.assert_array_equal(again.get_property("accepted", ids), ours.get_property("accepted", ids))
        assert again.get_sampling_frequency() == pytest.approx(ours.get_sampling_frequency())


def test_accepted_only_and_curation_columns_follow_the_policy(suite2p_archive, tmp_path):
    ids = suite2p_archive.extractor(SEGMENTATION, plane="plane0").get_roi_ids()
    accepted = suite2p_archive.extractor(SEGMENTATION, plane="plane0").get_property("accepted", ids)
    first_accepted = ids[int(np.flatnonzero(accepted)[0])]
    suite2p_archive.curate(SEGMENTATION, [first_accepted], "rejected", plane="plane0", curator="alice")
    suite2p_archive.curate(SEGMENTATION, [first_accepted], "accepted", plane="plane0", curator="bob")
    suite2p_archive.curate(SEGMENTATION, [first_accepted], "rejected", plane="plane0", curator="carol")
    exported = suite2p_archive.export_nwb(SEGMENTATION, tmp_path / "accepted.nwb", accepted_only=True,
                                          policy="majority", progress=False)
    with NWBHDF5IO(str(exported.path), "r") as io:
        nwbfile = io.read()
        table = nwbfile.processing["ophys"]["ImageSegmentation"]["PlaneSegmentationPlane0"]
        expected = [i for i, a in zip(ids, accepted) if a and i != first_accepted]
        assert list(table.id[:]) == expected
        assert all(table["accepted"][:])
        raw = nwbfile.processing["ophys"]["Fluorescence"]["RoiResponseSeriesPlane0"]
        full = suite2p_archive.extractor(SEGMENTATION, plane="plane0").get_traces(name="raw")
        np.testing.assert_allclose(raw.data[:], full[:, [ids.index(i) for i in expected]], rtol=1e-6)
        assert "majority" in nwbfile.notes and "alice, bob, carol" in nwbfile.notes
    everything = suite2p_archive.export_nwb(SEGMENTATION, tmp_path / "all.nwb", policy="majority", progress=False)
    with NWBHDF5IO(str(everything.path), "r") as io:
        table = io.read().processing["ophys"]["ImageSegmentation"]["PlaneSegmentationPlane0"]
        row = list(table.id[:]).index(first_accepted)
        assert (table["accepted"][row], table["curation_label"][row], table["num_curators"][row]) == (
            False, "rejected", 3)


def test_traces_are_copied_in_blocks(suite2p_archive, tmp_path):
    seen = []
    exported = suite2p_archive.export_nwb(SEGMENTATION, tmp_path / "blocks.nwb", block_samples=64,
                                          progress=seen.append)
    # Two planes x three series x 300 samples, in blocks of at most 64.
    assert sum(seen) == 2 * 3 * 300 and max(seen) <= 64
    extractor = suite2p_archive.extractor(SEGMENTATION, plane="plane1")
    with NWBHDF5IO(str(exported.path), "r") as io:
        raw = io.read().processing["ophys"]["Fluorescence"]["DeconvolvedPlane1"]
        np.testing.assert_allclose(raw.data[:], extractor.get_traces(name="deconvolved"), rtol=1e-6)


def test_refusals_name_what_to_do(archive, tmp_path):
    folder = write_suite2p_folder(tmp_path / "suite2p", n_rois=5, n_frames=50, frame_shape=(40, 40), seed=1)
    ingest_path(archive, "suite2p", folder, subject="m12", session="baseline", progress=False)
    with pytest.raises(InvalidInputError, match=r"does not know the session's start \(`segdb session set "
                                                r"m12/baseline --start"):
        archive.export_nwb("m12/baseline/suite2p", tmp_path / "a.nwb")
    archive.set_session("m12/baseline", session_start="2026-03-01")
    with pytest.raises(InvalidInputError, match=r"for DANDI: .*species.*sex.*age or date of birth"):
        archive.export_nwb_files(tmp_path / "d", segmentation="m12/baseline/suite2p", dandi=True)
    assert not (tmp_path / "d").exists()
    archive.export_nwb("m12/baseline/suite2p", tmp_path / "a.nwb", progress=False)
    with pytest.raises(ConflictError, match="already exists"):
        archive.export_nwb("m12/baseline/suite2p", tmp_path / "a.nwb")
    with pytest.raises(InvalidInputError, match="does not end in .nwb"):
        archive.export_nwb("m12/baseline/suite2p", tmp_path / "a.h5")
    with pytest.raises(InvalidInputError, match="subject 'm13' is not in the archive"):
        archive.export_nwb_files(tmp_path / "e", subject="m13")


def test_a_failed_export_leaves_no_file(archive, tmp_path, monkeypatch):
    from segdb.export.nwb import TraceBlocks

    folder = write_suite2p_folder(tmp_path / "suite2p", n_rois=5, n_frames=50, frame_shape=(40, 40), seed=1)
    ingest_path(archive, "suite2p", folder, subject="m12", session="2026-03-01", session_start="2026-03-01",
                progress=False)

    def disk_full(self, selection):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(TraceBlocks, "_get_data", disk_full)
    out = tmp_path / "out"
    with pytest.raises(OSError, match="No space left"):
        archive.export_nwb(SEGMENTATION, out / "a.nwb", progress=False)
    assert list(out.iterdir()) == []


def test_cli_export_one_segmentation_and_a_subject_for_dandi(tmp_path, capsys):
    lab = tmp_path / "lab"
    main(["demo", str(lab)])
    assert main(["subject", "set", "m12", "-a", str(lab), "--species", "Mus musculus", "--sex", "F",
                 "--age", "P90D"]) == 0
    capsys.readouterr()
    assert main(["export", "nwb", SEGMENTATION, str(tmp_path / "out"), "-a", str(lab), "--accepted",
                 "--policy", "majority", "--no-progress"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert (tmp_path / "out" / "m12_2026-03-01_suite2p.nwb").is_file()
    assert main(["export", "nwb", "--subject", "m12", str(tmp_path / "dandi"), "-a", str(lab), "--dandi",
                 "--no-progress"]) == 0
    names = sorted(p.name for p in (tmp_path / "dandi" / "sub-m12").iterdir())
    assert names == [f"sub-m12_ses-2026-03-{day}_ophys.nwb" for day in ("01", "08", "15")]
    assert main(["export", "nwb", "--subject", "m15", str(tmp_path / "dandi"), "-a", str(lab), "--dandi"]) == 2
    assert "segdb subject set m15" in capsys.readouterr().err
    assert main(["export", "nwb", str(tmp_path / "x"), "-a", str(lab)]) == 2
    assert "say what to export" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("written", "exported"),
    [("VISp L2/3", "VISp2/3"), ("VISp layer 5", "VISp5"), ("VISl, L6a", "VISl6a"), ("CA1", "CA1"), (None, "unknown"),
     ("Primary visual area", "Primary visual area")],
)
def test_locations_become_allen_ccf_terms(written, exported):
    assert ccf_location(written) == exported


@pytest.mark.parametrize("frame_shape", [(40, 56), (48, 48)])
def test_segdb_ingest_nwb_takes_back_the_export_with_its_metadata(archive, tmp_path, frame_shape):
    folder = write_suite2p_folder(tmp_path / "suite2p", n_planes=2, n_rois=10, n_frames=80, frame_shape=frame_shape,
                                  sampling_frequency=10.0, seed=4)
    ingest_path(archive, "suite2p", folder, subject="m12", session="2026-03-01", pixel_size_um=1.5, progress=False)
    _describe(archive)
    exported = archive.export_nwb(SEGMENTATION, tmp_path / "out.nwb", progress=False)
    target, storage_root = archive.reopen_spec()
    for plane in ("plane0", "plane1"):
        code = main(["ingest", "nwb", str(exported.path), "--archive", target, "--storage-root", storage_root,
                     "--subject", "m12-copy", "--session", "2026-03-01", "--name", f"from-nwb-{plane}",
                     "--plane", plane, "--plane-segmentation", f"PlaneSegmentation{plane.capitalize()}",
                     "--no-progress"])
        assert code == 0
        ours = archive.extractor(SEGMENTATION, plane=plane)
        back = archive.extractor(f"m12-copy/2026-03-01/from-nwb-{plane}")
        assert back.get_roi_ids() == ours.get_roi_ids()
        for a, b in zip(back.get_roi_pixel_masks(), ours.get_roi_pixel_masks()):
            np.testing.assert_allclose(a, b, rtol=1e-6)
        np.testing.assert_allclose(back.get_traces(name="raw"), ours.get_traces(name="raw"), rtol=1e-6)
    copy = next(s for s in archive.subjects() if s.name == "m12-copy")
    assert (copy.species, copy.sex, copy.age, copy.genotype, copy.strain) == (
        "Mus musculus", "F", "P90D", "Ai93;Emx1-Cre", "C57BL/6J")
    session = next(s for s in archive.sessions(subject="m12-copy"))
    assert session.experimenters == ("Doe, Jane",) and session.lab == "Imaging Lab"
    assert session.session_start.isoformat() == "2026-03-01T10:30:00+00:00"
    plane = archive.planes("m12-copy/2026-03-01/from-nwb-plane0")[0]
    assert (plane.indicator, plane.excitation_nm, plane.emission_nm, plane.device, plane.pixel_size_um) == (
        "GCaMP6s", 920.0, 510.0, "Bruker Ultima", 1.5)
    assert plane.location == "VISp2/3"


def test_the_readme_share_as_nwb_commands_run_on_the_demo_archive(tmp_path, capsys, monkeypatch):
    import shlex

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Share as NWB / DANDI", 1)[1].split("\n### ", 1)[0]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    commands = [shlex.split(line, comments=True) for line in block.splitlines() if line.startswith("segdb ")]
    assert [c[1] for c in commands] == ["subject", "session", "plane", "ls", "export", "export"]
    lab = tmp_path / "lab"
    main(["demo", str(lab)])
    monkeypatch.chdir(tmp_path)
    for argv in commands:
        assert main([*argv[1:], "--archive", str(lab)]) == 0, argv
    assert sorted(p.name for p in (tmp_path / "out" / "sub-m12").iterdir()) == [
        f"sub-m12_ses-2026-03-{day}_ophys.nwb" for day in ("01", "08", "15")]
    assert (tmp_path / "out" / "m12_2026-03-01_suite2p.nwb").is_file()
    # The commands describe plane0 only: plane1's unknown location is the one thing the inspector flags.
    problems = _problems(tmp_path / "out" / "sub-m12" / "sub-m12_ses-2026-03-01_ophys.nwb")
    assert [(p.check_function_name, p.location) for p in problems] == [
        ("check_imaging_plane_location_allen_ccf", "/general/optophysiology/ImagingPlanePlane1")]


def test_background_components_go_out_and_come_back(archive, tmp_path):
    from segdb.synthetic import write_synthetic_caiman_hdf5

    path = write_synthetic_caiman_hdf5(tmp_path / "caiman.hdf5")
    ingest_path(archive, "caiman", path, subject="m12", session="2026-03-01", session_start="2026-03-01",
                progress=False)
    ours = archive.extractor("m12/2026-03-01/caiman")
    assert ours.get_background_ids()
    exported = archive.export_nwb("m12/2026-03-01/caiman", tmp_path / "caiman.nwb", progress=False)
    with NWBHDF5IO(str(exported.path), "r") as io:
        ophys = io.read().processing["ophys"]
        background = ophys["ImageSegmentation"]["BackgroundPlaneSegmentation"]
        assert list(background["roi_name"][:]) == [str(i) for i in ours.get_background_ids()]
        assert ophys["Fluorescence"]["Background"].rois.table is background
    code = main(["ingest", "nwb", str(exported.path), "--archive", archive.reopen_spec()[0], "--storage-root",
                 archive.reopen_spec()[1], "--subject", "m12", "--session", "2026-03-01", "--name", "back",
                 "--no-progress"])
    assert code == 0
    back = archive.extractor("m12/2026-03-01/back")
    assert back.get_roi_ids() == ours.get_roi_ids()
    assert back.get_background_ids() == ours.get_background_ids()
    for a, b in zip(back.get_background_pixel_masks(), ours.get_background_pixel_masks()):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_allclose(back.get_traces(name="background"), ours.get_traces(name="background"), rtol=1e-6)
    for name, traces in ours.get_traces_dict().items():
        if traces is not None:
            np.testing.assert_allclose(back.get_traces(name=name), traces, rtol=1e-6)


def test_timestamps_are_written_once_and_linked(archive, tmp_path):
    from segdb.synthetic import synthetic_segmentation

    extractor = synthetic_segmentation(n_rois=6, n_frames=60, frame_shape=(40, 48), sampling_frequency=20.0, seed=2)
    times = 100.0 + np.cumsum(np.full(60, 0.05))
    extractor.set_times(times)
    archive.ingest(extractor, subject="m12", session="2026-03-01", name="timed", session_start="2026-03-01",
                   progress=False)
    exported = archive.export_nwb("m12/2026-03-01/timed", tmp_path / "timed.nwb", progress=False)
    with NWBHDF5IO(str(exported.path), "r") as io:
        ophys = io.read().processing["ophys"]
        series = list(ophys["Fluorescence"].roi_response_series.values()) + list(
            ophys["DfOverF"].roi_response_series.values())
        assert len(series) == 4
        for one in series:
            np.testing.assert_allclose(one.timestamps[:], times)
        assert sum(one.timestamp_link is not None and len(one.timestamp_link) > 0 for one in series) == 1
    back = nwb_extractor(exported.path)
    np.testing.assert_allclose(back.get_timestamps(), times)
