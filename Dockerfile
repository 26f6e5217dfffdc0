# syntax=docker/dockerfile:1
# The operator image; validation Jobs and `helm test` run it too (hence Python on PATH).

# The base image by digest, so that a rebuild gets the bytes that were reviewed, not whatever the tag
# points to today. This is the multi-platform index of python:3.11-slim (Python 3.11.15, Debian trixie,
# built 2026-08-05) as recorded by Docker's own docker-library/repo-info, repos/python/remote/3.11-slim.md
# at commit 2477d553d2fdfa57b4ec11f63c8376eca8b7a253; it was not pulled from here. To update: take the
# digest from `docker buildx imagetools inspect python:3.11-slim` and review the change.
ARG PYTHON_IMAGE=python:3.11-slim@sha256:90744cff8f32887f075c47d747a173ff333e9e98801667af93c357fa9f5e28ff

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
# quantop's wheel plus wheels of its runtime dependencies only (no [test] or [sandbox] extra), so the
# final stage installs offline and carries no build tooling. .dockerignore keeps operator/quantop/sandbox
# out of the context; the rm makes sure of it should a build use another ignore file.
RUN rm -rf operator/quantop/sandbox \
 && pip wheel --no-cache-dir --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp
# A passwd entry for 65532: getpass.getuser() (kopf's peer identity without POD_ID) fails without one.
RUN groupadd --gid 65532 quantop \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin quantop \
 && python -m venv "$VIRTUAL_ENV"
# A bind mount rather than COPY, so the wheels never become a layer of the image.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels quantop \
 && quantop --help >/dev/null \
 && python -c "import importlib.util as u, sys; sys.exit(any(u.find_spec(m) for m in ('quantop.sandbox', 'kmock', 'celpy')))"
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["quantop"]
CMD ["run"]
