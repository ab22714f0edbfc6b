# One image for every CIFER part; the first argument picks the role:
#   cifer proxy | cifer keyservice serve | cifer operator | cifer inference | cifer dev
# Build: docker build -t cifer:0.1.0 .            (the Helm chart and manifests pick the role)
#        docker build --build-arg WITH_SOFTHSM=true -t cifer:0.1.0-softhsm .   (a software HSM inside)
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY cifer/ cifer/
COPY proxy/ proxy/
COPY keyservice/ keyservice/
COPY operator/ operator/
COPY inference/ inference/
COPY dev/ dev/
COPY fhe_inference_service/ fhe_inference_service/
# With every extra (`all`: operator, postgres, redis, hsm, fhe), since one image serves every role.
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[all]"

FROM ${PYTHON_IMAGE}
# SoftHSM2 for a self-contained key service (development and CI clusters). In production the
# HSM vendor's PKCS#11 module is mounted and named with --pkcs11-library.
ARG WITH_SOFTHSM=false
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN if [ "${WITH_SOFTHSM}" = "true" ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends softhsm2=2.6.1-2.1 \
        && rm -rf /var/lib/apt/lists/*; \
    fi
# A fixed non-root user, so that pod security contexts can pin runAsUser.
RUN groupadd --system --gid 65532 cifer \
    && useradd --system --uid 65532 --gid cifer --home-dir /var/lib/cifer --create-home cifer
COPY --from=build /wheels /wheels
# The version pyproject.toml gives (tests/install/test_dockerfile.py holds them equal).
ARG CIFER_VERSION=0.1.0
RUN pip install --no-cache-dir --no-index --find-links=/wheels "cifer[all]==${CIFER_VERSION}" && rm -rf /wheels
LABEL org.opencontainers.image.title="cifer" \
      org.opencontainers.image.description="Zero-key, post-quantum encryption for workloads on Kubernetes" \
      io.cifer.roles="proxy keyservice operator inference dev"
USER 65532:65532
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 XDG_DATA_HOME=/var/lib \
    CIFER_HEALTH_URL=http://127.0.0.1:8080/v1/health
WORKDIR /var/lib/cifer
# The sidecar's (and `cifer dev`'s) REST and gRPC ports (seed 000 §10.4, §5).
EXPOSE 8080 9090
# Outside Kubernetes (which uses its probes instead): the role's health endpoint, set per role
# with CIFER_HEALTH_URL (key service :8081, operator :8080/healthz, sidecar probes :15080,
# inference :8000).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['CIFER_HEALTH_URL'], timeout=4)"]
ENTRYPOINT ["cifer"]
CMD ["--help"]
