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
{{- include "todo-chatbot.backendOrigin" . }}
{{- end }}
{{- end }}

{{/*
The backend Service's in-cluster origin, http://<fullname>-backend:<port>.
*/}}
{{- define "todo-chatbot.backendOrigin" -}}
{{- printf "http://%s:%d" (include "todo-chatbot.backend.fullname" .) (int .Values.backend.port) }}
{{- end }}

{{/*
API_INTERNAL_URL, the base URL for server-side code: the backend's in-cluster origin, plus the
path of NEXT_PUBLIC_API_BASE_URL when that is a same-origin path ("/api"), so one relative
route ("<base>/todos") reaches the same backend path from the browser and from the server.
*/}}
{{- define "todo-chatbot.apiInternalUrl" -}}
{{- $public := include "todo-chatbot.apiBaseUrl" . }}
{{- include "todo-chatbot.backendOrigin" . }}{{ if hasPrefix "/" $public }}{{ $public }}{{ end }}
{{- end }}
