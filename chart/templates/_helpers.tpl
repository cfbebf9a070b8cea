{{/*
Chart name, for the app.kubernetes.io/name label.
*/}}
{{- define "todo-chatbot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Prefix of every resource name: the release name (so release "todo" names the database Service
"todo-db", as the specification asks), unless fullnameOverride is set.
*/}}
{{- define "todo-chatbot.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Name of one component's resources. Call with (dict "root" $ "component" "database").
*/}}
{{- define "todo-chatbot.componentName" -}}
{{- $suffix := get (dict "database" "db" "backend" "backend" "frontend" "frontend") .component }}
{{- printf "%s-%s" (include "todo-chatbot.fullname" .root) $suffix | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "todo-chatbot.database.fullname" -}}
{{- include "todo-chatbot.componentName" (dict "root" . "component" "database") }}
{{- end }}

{{- define "todo-chatbot.backend.fullname" -}}
{{- include "todo-chatbot.componentName" (dict "root" . "component" "backend") }}
{{- end }}

{{- define "todo-chatbot.frontend.fullname" -}}
{{- include "todo-chatbot.componentName" (dict "root" . "component" "frontend") }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "todo-chatbot.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The values of one component: postgresql for "database", else the component's own map.
*/}}
{{- define "todo-chatbot.componentImageTag" -}}
{{- $values := ternary .root.Values.postgresql (get .root.Values .component) (eq .component "database") }}
{{- regexReplaceAll "[^A-Za-z0-9]+$" ($values.image.tag | toString | trunc 63) "" }}
{{- end }}

{{/*
Selector labels: never change between versions. Call with (dict "root" $ "component" "backend").
*/}}
{{- define "todo-chatbot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "todo-chatbot.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Common labels of every object. Call with (dict "root" $ "component" "backend").
*/}}
{{- define "todo-chatbot.labels" -}}
helm.sh/chart: {{ include "todo-chatbot.chart" .root }}
{{ include "todo-chatbot.selectorLabels" . }}
app.kubernetes.io/version: {{ include "todo-chatbot.componentImageTag" . | quote }}
app.kubernetes.io/part-of: todo-chatbot
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{/*
The Argo CD sync-wave annotation. Call with (dict "root" $ "wave" "database"), where wave is a
key of .Values.syncWaves. Every object includes it, so the cross-value checks run on every render.
*/}}
{{- define "todo-chatbot.syncWave" -}}
{{- $_ := include "todo-chatbot.validateValues" .root -}}
argocd.argoproj.io/sync-wave: {{ get .root.Values.syncWaves .wave | int | toString | quote }}
{{- end }}

{{/*
Labels and annotations of an object's metadata. Call with
(dict "root" $ "component" "backend" "wave" "backend").
*/}}
{{- define "todo-chatbot.metadata" -}}
labels:
  {{- include "todo-chatbot.labels" . | nindent 2 }}
annotations:
  {{- include "todo-chatbot.syncWave" . | nindent 2 }}
{{- end }}

{{/*
Checks between values that values.schema.json cannot express.
*/}}
{{- define "todo-chatbot.validateValues" -}}
{{- $w := .Values.syncWaves }}
{{- if not (and (lt (int $w.database) (int $w.backend)) (lt (int $w.backend) (int $w.frontend)) (lt (int $w.frontend) (int $w.final))) }}
{{- fail (printf "syncWaves must increase: database (%v) < backend (%v) < frontend (%v) < final (%v)" $w.database $w.backend $w.frontend $w.final) }}
{{- end }}
{{- if and .Values.postgresql.auth.existingSecret (not .Values.backend.secrets.existingSecret) }}
{{- fail "postgresql.auth.existingSecret needs backend.secrets.existingSecret too: the chart cannot build DATABASE_URL without the password, so that Secret must hold DATABASE_URL, GEMINI_API_KEY and SECRET_KEY" }}
{{- end }}
{{- if and .Values.rbac.create (not .Values.serviceAccount.create) }}
{{- fail "rbac.create needs serviceAccount.create: the Role is bound to the backend's ServiceAccount" }}
{{- end }}
{{- if and .Values.ingress.tls.enabled (not .Values.ingress.host) }}
{{- fail "ingress.tls.enabled needs ingress.host: a certificate is issued for a host name" }}
{{- end }}
{{- range $c := list "backend" "frontend" }}
{{- $a := (get $.Values $c).autoscaling }}
{{- if and $a.enabled (gt (int $a.minReplicas) (int $a.maxReplicas)) }}
{{- fail (printf "%s.autoscaling.minReplicas (%v) must not exceed %s.autoscaling.maxReplicas (%v)" $c $a.minReplicas $c $a.maxReplicas) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Secret names: the chart's, or the existing one the values name.
*/}}
{{- define "todo-chatbot.database.secretName" -}}
{{- default (include "todo-chatbot.database.fullname" .) .Values.postgresql.auth.existingSecret }}
{{- end }}

{{- define "todo-chatbot.backend.secretName" -}}
{{- default (include "todo-chatbot.backend.fullname" .) .Values.backend.secrets.existingSecret }}
{{- end }}

{{/*
Percent-encoding for one part of a URL: urlquery escapes every byte outside [A-Za-z0-9-_.~]
(so "@ : / % # ?" become %40 %3A %2F %25 %23 %3F) but turns a space into "+", which a URL's
user-info does not decode; "+" itself was escaped as %2B, so every "+" left is a space.
*/}}
{{- define "todo-chatbot.urlEncode" -}}
{{- urlquery . | replace "+" "%20" }}
{{- end }}

{{/*
DATABASE_URL: postgresql://<user>:<password>@<fullname>-db:<port>/<database>, with the user,
password and database percent-encoded.
*/}}
{{- define "todo-chatbot.databaseUrl" -}}
{{- $auth := .Values.postgresql.auth }}
{{- $password := required "postgresql.auth.password is required: set it in the environment's secrets file, or name a Secret in postgresql.auth.existingSecret" $auth.password }}
{{- printf "postgresql://%s:%s@%s:%d/%s"
      (include "todo-chatbot.urlEncode" $auth.username)
      (include "todo-chatbot.urlEncode" $password)
      (include "todo-chatbot.database.fullname" .)
      (int .Values.postgresql.service.port)
      (include "todo-chatbot.urlEncode" $auth.database) }}
{{- end }}

{{/*
NEXT_PUBLIC_API_BASE_URL: the explicit value, else same-origin ingress.apiPath when the Ingress
is on, else the backend Service's in-cluster URL.
*/}}
{{- define "todo-chatbot.apiBaseUrl" -}}
{{- if .Values.frontend.apiBaseUrl }}
{{- .Values.frontend.apiBaseUrl }}
{{- else if .Values.ingress.enabled }}
{{- .Values.ingress.apiPath }}
{{- else }}
{{- printf "http://%s:%d" (include "todo-chatbot.backend.fullname" .) (int .Values.backend.port) }}
{{- end }}
{{- end }}

{{/*
Pod-level securityContext at the "restricted" Pod Security level. Call with the component's
podSecurityContext values.
*/}}
{{- define "todo-chatbot.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ int .runAsUser }}
runAsGroup: {{ int .runAsGroup }}
fsGroup: {{ int .fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
Container-level securityContext at the "restricted" Pod Security level.
*/}}
{{- define "todo-chatbot.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
Probe timings. Call with a livenessProbe/readinessProbe values map.
*/}}
{{- define "todo-chatbot.probeTimings" -}}
initialDelaySeconds: {{ int .initialDelaySeconds }}
periodSeconds: {{ int .periodSeconds }}
timeoutSeconds: {{ int .timeoutSeconds }}
failureThreshold: {{ int .failureThreshold }}
{{- end }}

{{/*
The pod's ServiceAccount: the component's own when serviceAccount.create, else the namespace's
default. Call with (dict "root" $ "component" "backend").
*/}}
{{- define "todo-chatbot.serviceAccountName" -}}
{{- if .root.Values.serviceAccount.create }}
{{- include "todo-chatbot.componentName" . }}
{{- else }}
{{- "default" }}
{{- end }}
{{- end }}
