# Builds the whole plugin inside Docker (Go backend + frontend) and a Grafana image that loads
# it, so `docker compose up --build` works on a machine that has only Docker.
#
# create-plugin's own .config/Dockerfile is the scaffold's development image (it mounts a dist/
# built on the host); this file is the self-contained build used by docker-compose.yaml.

ARG GRAFANA_VERSION=12.4.0

# --- backend: dist/gpx_k8saudit_linux_<arch> and dist/go_plugin_build_manifest ---------------
FROM golang:1.26 AS backend
ARG TARGETARCH
WORKDIR /build
RUN go install github.com/magefile/mage@v1.17.2
COPY go.mod go.sum ./
RUN go mod download
# The SDK's build package reads src/plugin.json (executable, id) and package.json (version).
COPY Magefile.go package.json ./
COPY src/plugin.json ./src/plugin.json
COPY pkg ./pkg
# Grafana runs gpx_k8saudit_<os>_<arch> for its own platform: build arm64 too on arm64 hosts.
RUN mage -v build:linux \
    && if [ "${TARGETARCH}" = "arm64" ]; then mage -v build:linuxARM64; fi \
    && ls -l dist
# The sample-data generator: the container makes fresh audit logs for "the last 6 hours" at
# every start, so the dashboards' relative time ranges always show data.
RUN CGO_ENABLED=0 go build -o /build/k8saudit-auditgen ./pkg/auditgen/cmd/auditgen

# --- frontend: dist/module.js, plugin.json, img/, README.md, LICENSE ---------------------------
FROM node:22 AS frontend
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && ls -l dist

# --- Grafana with the plugin -----------------------------------------------------------------
FROM grafana/grafana:${GRAFANA_VERSION}

ENV GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS=k8saudit-auditlogs-datasource
# Development setup only: anyone who can reach the port is an admin. Never expose this publicly.
ENV GF_AUTH_ANONYMOUS_ENABLED=true \
    GF_AUTH_ANONYMOUS_ORG_ROLE=Admin \
    GF_AUTH_DISABLE_LOGIN_FORM=true \
    GF_AUTH_BASIC_ENABLED=false

COPY --from=frontend /build/dist/ /var/lib/grafana/plugins/k8saudit-auditlogs-datasource/
COPY --from=backend /build/dist/ /var/lib/grafana/plugins/k8saudit-auditlogs-datasource/
COPY --from=backend /build/k8saudit-auditgen /usr/local/bin/k8saudit-auditgen

# Before Grafana starts: a busy cluster's last 6 hours of audit log in /var/lib/grafana/k8saudit-live,
# the provisioned datasource's second path (the first holds the bundled real events).
ENTRYPOINT ["/bin/sh", "-c", "mkdir -p /var/lib/grafana/k8saudit-live && k8saudit-auditgen -out /var/lib/grafana/k8saudit-live/audit.log -requests 12000 -duration 6h -level-mix 0.85,0.10,0.05 -incident && exec /run.sh \"$@\"", "--"]
