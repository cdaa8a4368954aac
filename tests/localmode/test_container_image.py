"""`--image`: the real image from container/Dockerfile, built with podman, trains and serves in
containers; its digest is recorded and a purge removes it. On a fresh machine the build first makes
the offline base image (debootstrap, container/build_image.py): this test never skips for want of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from localmode.pipeline.build import local_container_images, podman_image_id
from tests.localmode.conftest import quiet_pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.container]


@pytest.mark.skipif(shutil.which("podman") is None, reason="needs podman (scripts/install-system-deps.sh)")
def test_real_image_trains_serves_and_is_purged(tmp_path: Path):
    pipeline = quiet_pipeline(tmp_path, container_image=True)
    settings = pipeline.settings
    try:
        pipeline.start_services()
        pipeline.deploy()
        pipeline.seed_data()
        execution = pipeline.run_push()

        assert execution.status == "Succeeded", execution.failure
        run = pipeline.run_item(execution.execution_id)
        [built] = pipeline.images.values()
        tag_prefix = f"{settings.stack_name}-local"
        assert built.local_image in local_container_images(tag_prefix)
        assert built.content_digest == "sha256:" + podman_image_id(built.local_image)
        assert run["image_uri"] == built.image_uri and run["image_digest"] == built.image_digest
        assert run["status"] == "Completed"
        assert pipeline.predict("5.1,3.5,1.4,0.2").strip() == "0"

        pipeline.delete(purge=True)
        assert local_container_images(tag_prefix) == []
    finally:
        pipeline.close()
