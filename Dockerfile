# One image for every CIFER part: `cifer proxy`, `cifer keyservice`, `cifer operator`, `cifer dev`.
# Build: docker build -t cifer:0.1.0 .   (the Helm chart and manifests pick the subcommand)

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY cifer/ cifer/
COPY proxy/ proxy/
COPY operator/ operator/
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
# A fixed non-root user, so that pod security contexts can pin runAsUser.
RUN groupadd --system --gid 65532 cifer \
    && useradd --system --uid 65532 --gid cifer --home-dir /var/lib/cifer --create-home cifer
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels /wheels/cifer-*.whl && rm -rf /wheels
USER 65532:65532
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 XDG_DATA_HOME=/var/lib
WORKDIR /var/lib/cifer
EXPOSE 8080
ENTRYPOINT ["cifer"]
CMD ["--help"]
