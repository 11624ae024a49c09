"""The helpers the Kubernetes labs use that need no cluster: the model server's build
context, and a port-forward's refusal of a taken port."""

from __future__ import annotations

import socket

import pytest

from mlops_course import cluster, containers


def test_the_model_server_context_holds_the_image_folder_the_course_modules_and_pinned_requirements(tmp_path):
    (tmp_path / "context").mkdir()
    (tmp_path / "context" / "stale.txt").write_text("from an earlier run")
    context = cluster.model_server_context(tmp_path / "context")
    assert sorted(p.name for p in context.iterdir()) == ["Dockerfile", "mlops_course", "requirements.txt", "serve.py", "train.py"]
    assert sorted(p.name for p in (context / "mlops_course").iterdir()) == ["__init__.py", "data.py", "model.py", "split.py"]
    assert (context / "requirements.txt").read_text().split() == containers.pinned_requirements(["numpy", "pandas", "scikit-learn"])
    dockerfile = (context / "Dockerfile").read_text()
    # The version arguments come after the shared steps, so a second version rebuilds only from training on.
    assert dockerfile.index("ARG MODEL_VERSION") > dockerfile.index("RUN uv pip install")
    assert dockerfile.index("ARG MODEL_KIND") < dockerfile.index("RUN python train.py")


def test_a_port_forward_to_a_taken_port_says_what_holds_it_before_starting_kubectl():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        forward = cluster.PortForward("lab", "svc/taxi-server", port, 80)
        assert forward.command == f"kubectl -n lab port-forward --address 127.0.0.1 svc/taxi-server {port}:80"
        with pytest.raises(cluster.ClusterError, match=rf"127\.0\.0\.1:{port} is taken.*local_port parameter"):
            forward.__enter__()
        assert forward.process is None, "kubectl was not started"
