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
NEXT_PUBLIC_API_BASE_URL: backend.apiPath on the browser's own origin, in every mode. With the
Ingress, it routes that path to the backend; without it, the frontend's server forwards the
path to API_INTERNAL_URL. Never a cluster-internal name, which no browser resolves.
*/}}
{{- define "todo-chatbot.apiBaseUrl" -}}
{{- .Values.backend.apiPath }}
{{- end }}

{{/*
API_INTERNAL_URL: the backend Service's in-cluster origin, http://<fullname>-backend:<port>,
for server-side code and for the frontend's forwarding of backend.apiPath. The backend serves
that path itself, so <origin><apiPath>/todos is the same route the browser calls.
*/}}
{{- define "todo-chatbot.apiInternalUrl" -}}
{{- printf "http://%s:%d" (include "todo-chatbot.backend.fullname" .) (int .Values.backend.port) }}
{{- end }}
