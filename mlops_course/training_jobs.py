"""Lab 6c's plumbing: the training image, complete and current, on the cluster's node.

``mlops_course.training`` stages the image's context with a fixed list of course
modules; since ``training`` itself imports ``serving`` (for ``free_port``), a
program in that image could not import it. This module stages the context with
every course module ``training`` and ``data`` import when loaded (found by reading
their imports, so the list cannot fall behind), labels the image with a hash of
its context, and rebuilds it when the hash differs: an image built from older
code is never reused. Imports of Docker happen inside the functions.
"""

from __future__ import annotations

import ast
import hashlib
import shutil
from pathlib import Path

from mlops_course import paths, training

IMAGE = training.IMAGE
#: The image's label holding the hash of the context it was built from.
CONTEXT_LABEL = "mlops-course.context-sha256"
#: The course modules the program imports itself; the rest follow from their imports.
ROOTS = ("data", "training")


def course_imports(module: str) -> set[str]:
    """The course modules ``module`` imports at load time (module level only: imports inside
    functions happen when those functions run, which the program in the image never does)."""
    tree = ast.parse((paths.REPO_ROOT / "mlops_course" / f"{module}.py").read_text())
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "mlops_course":
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mlops_course."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("mlops_course."))
    return found


def image_modules() -> list[str]:
    """Every course module the program needs to start: :data:`ROOTS` and what they import, transitively."""
    needed, todo = set(), list(ROOTS)
    while todo:
        module = todo.pop()
        if module not in needed:
            needed.add(module)
            todo.extend(course_imports(module))
    return sorted(needed)


def image_context(folder: Path) -> Path:
    """Stage the build context of :data:`IMAGE` in ``folder``: ``cluster/images/taxi-train``, the
    all-reduce module, the course modules of :func:`image_modules`, and NumPy and pandas pinned
    to uv.lock's versions."""
    from mlops_course import containers

    folder = Path(folder)
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(training.PROGRAM.parent, folder)
    shutil.copy(training.DIST_TRAIN, folder / training.DIST_TRAIN.name)
    (folder / "mlops_course").mkdir()
    for module in ["__init__", *image_modules()]:
        shutil.copy(paths.REPO_ROOT / "mlops_course" / f"{module}.py", folder / "mlops_course" / f"{module}.py")
    (folder / "requirements.txt").write_text("\n".join(containers.pinned_requirements(["numpy", "pandas"])) + "\n")
    return folder


def context_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        digest.update(file.relative_to(folder).as_posix().encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def job_image(lab: str, load: bool = True) -> tuple[str, bool]:
    """Build :data:`IMAGE` unless Docker has it from this very context
    (``docker build -t mlops-course/taxi-dist-train:1 CONTEXT``), put it on the cluster's node
    when ``load`` (``kind load docker-image``), and return its tag and whether it was built now."""
    import docker

    from mlops_course import cluster, containers, workloads

    client = containers.connect()
    context = image_context(paths.workdir(lab) / "image")
    wanted = context_hash(context)
    try:
        current = client.images.get(IMAGE).labels.get(CONTEXT_LABEL)
    except docker.errors.ImageNotFound:
        current = None
    built = current != wanted
    if built:
        # Shared between Part 6's labs, as the model server's images are between Part 3's: a lab's cleanup leaves it.
        client.images.build(path=str(context), tag=IMAGE, rm=True, network_mode="host",
                            labels={workloads.SHARED_LABEL: "taxi-dist-train", CONTEXT_LABEL: wanted})
    shutil.rmtree(context, ignore_errors=True)
    if load:
        cluster.load_images(IMAGE)
    return IMAGE, built
