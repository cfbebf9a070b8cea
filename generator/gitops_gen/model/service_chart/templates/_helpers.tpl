{{- define "gitops-gen-service.name" -}}gitops-gen{{- end -}}

{{- define "gitops-gen-service.labels" -}}
app.kubernetes.io/name: gitops-gen
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: validation-service
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{- define "gitops-gen-service.selectorLabels" -}}
app.kubernetes.io/name: gitops-gen
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "gitops-gen-service.securityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
