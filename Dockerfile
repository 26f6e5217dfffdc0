# syntax=docker/dockerfile:1
# The operator image; validation Jobs and `helm test` run it too (hence Python on PATH).

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
# quantop's wheel plus wheels of its runtime dependencies only (no [test] extra), so the final
# stage installs offline and carries no build tooling.
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
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
 && quantop --help >/dev/null
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["quantop"]
CMD ["run"]
