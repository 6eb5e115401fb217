{{/* The chart name, overridable. */}}
{{- define "satugate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name, at most 63 characters (a DNS label). */}}
{{- define "satugate.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "satugate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "satugate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "satugate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "satugate.labels" -}}
helm.sh/chart: {{ include "satugate.chart" . }}
{{ include "satugate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: satugate
{{- end }}

{{/* Labels of the serving pods (the migration job's pods carry another component). */}}
{{- define "satugate.gatewaySelectorLabels" -}}
{{ include "satugate.selectorLabels" . }}
app.kubernetes.io/component: gateway
{{- end }}

{{- define "satugate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "satugate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository:tag, or repository@digest when a digest is pinned. */}}
{{- define "satugate.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Where the master key file is mounted. */}}
{{- define "satugate.masterKeyDir" -}}/run/secrets/satugate{{- end }}

{{/*
The database URL from its Secret. Used by the gateway and by the migration hook.
*/}}
{{- define "satugate.databaseEnv" -}}
- name: SATUGATE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "database.existingSecret is required: a Secret with the PostgreSQL URL" .Values.database.existingSecret }}
      key: {{ .Values.database.urlKey }}
{{- end }}
