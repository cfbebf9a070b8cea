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
The image tag of one component, trimmed to a valid label value (for app.kubernetes.io/version);
"sha256-" and the digest's first 12 hex digits when the image is named by digest alone.
Call with (dict "root" $ "component" "backend"), or add "image" to name the image outright
(the test pods, whose component "test" has no image of its own).
*/}}
{{- define "todo-chatbot.componentImageTag" -}}
{{- $image := .image }}
{{- if not $image }}
{{- $values := dict "database" .root.Values.postgresql "backend" .root.Values.backend "frontend" .root.Values.frontend }}
{{- $image = (get $values .component).image }}
{{- end }}
{{- if and (not $image.tag) $image.digest }}
{{- printf "sha256-%s" ($image.digest | trimPrefix "sha256:" | trunc 12) }}
{{- else }}
{{- regexReplaceAll "[^A-Za-z0-9]+$" ($image.tag | toString | trunc 63) "" }}
{{- end }}
{{- end }}

{{/*
The image reference of a backend or frontend container: repository:tag, repository@digest (a
digest alone: the tag is "") or repository:tag@digest (the runtime pulls the digest; the tag
only tells people which release it is). Call with the component's image values.
*/}}
{{- define "todo-chatbot.imageRef" -}}
{{- $ref := .repository }}
{{- if .tag }}{{ $ref = printf "%s:%v" $ref .tag }}{{ end }}
{{- if .digest }}{{ $ref = printf "%s@%s" $ref .digest }}{{ end }}
{{- $ref }}
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
Labels of a pod template: the selector labels plus version, part-of and managed-by. Not
helm.sh/chart: a pod template that names the chart version would roll every pod on a chart
version bump alone. Call with (dict "root" $ "component" "backend").
*/}}
{{- define "todo-chatbot.podLabels" -}}
{{ include "todo-chatbot.selectorLabels" . }}
app.kubernetes.io/version: {{ include "todo-chatbot.componentImageTag" . | quote }}
app.kubernetes.io/part-of: todo-chatbot
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{/*
Common labels of every object: the pod labels plus helm.sh/chart. Call with
(dict "root" $ "component" "backend").
*/}}
{{- define "todo-chatbot.labels" -}}
helm.sh/chart: {{ include "todo-chatbot.chart" .root }}
{{ include "todo-chatbot.podLabels" . }}
{{- end }}

{{/*
Pod template annotation value that rolls the pods when a ConfigMap's or Secret's content
changes: the sha256 of its data (and stringData) only, so labels, annotations and the chart
version in its metadata never restart anything. Call with
(dict "root" $ "template" "/backend/configmap.yaml").
*/}}
{{- define "todo-chatbot.dataChecksum" -}}
{{- $obj := include (print .root.Template.BasePath .template) .root | fromYaml }}
{{- pick $obj "data" "stringData" | toYaml | sha256sum }}
{{- end }}

{{/*
Labels and selector of the `helm test` pods: component "test" (no Service, PodDisruptionBudget
or HPA selects it) plus the component the test exercises, which the NetworkPolicies admit.
Call with (dict "root" $ "target" "backend") for the selector.
*/}}
{{- define "todo-chatbot.testSelectorLabels" -}}
{{ include "todo-chatbot.selectorLabels" (dict "root" .root "component" "test") }}
todo-chatbot/test-target: {{ .target }}
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
{{- if and .Values.networkPolicy.enabled .Values.ingress.enabled (not .Values.ingress.className) }}
{{- fail "ingress.className is required when networkPolicy.enabled and ingress.enabled: the backend's NetworkPolicy admits browser calls only from the ingress controller that networkPolicy.ingressController selects (default: namespace ingress-nginx), so set ingress.className to that controller's IngressClass (e.g. nginx) rather than relying on the cluster's default class" }}
{{- end }}
{{- range $c := list "backend" "frontend" }}
{{- $v := get $.Values $c }}
{{- $a := $v.autoscaling }}
{{- if and $a.enabled (gt (int $a.minReplicas) (int $a.maxReplicas)) }}
{{- fail (printf "%s.autoscaling.minReplicas (%v) must not exceed %s.autoscaling.maxReplicas (%v)" $c $a.minReplicas $c $a.maxReplicas) }}
{{- end }}
{{- /*
A budget that keeps every pod available allows no voluntary eviction: node drains and cluster
upgrades hang on it. Refuse it rather than render it (no pods at all: nothing to block).
*/}}
{{- $pdb := $v.podDisruptionBudget }}
{{- if $pdb.enabled }}
{{- $pods := int (ternary $a.minReplicas $v.replicaCount $a.enabled) }}
{{- $podsKey := ternary "autoscaling.minReplicas" "replicaCount" $a.enabled }}
{{- $min := $pdb.minAvailable }}
{{- if and (kindIs "string" $min) (ge (int (trimSuffix "%" $min)) 100) }}
{{- fail (printf "%s.podDisruptionBudget.minAvailable (%s) must be below 100%%: the budget would allow no voluntary eviction and node drains would hang; lower it (e.g. 50%%) or disable %s.podDisruptionBudget" $c $min $c) }}
{{- else if and (not (kindIs "string" $min)) (gt $pods 0) (ge (int $min) $pods) }}
{{- fail (printf "%s.podDisruptionBudget.minAvailable (%v) must be less than %s.%s (%v): the budget would allow no voluntary eviction and node drains would hang; lower minAvailable or raise %s.%s" $c $min $c $podsKey $pods $c $podsKey) }}
{{- end }}
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
