{{/* Names and labels shared by every object of the chart. */}}
{{- define "hugemap.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "hugemap.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "hugemap.labels" -}}
{{ include "hugemap.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "hugemap.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "hugemap.secretName" -}}
{{- required "existingSecret is required: a Secret with REDIS_URL, MONGO_URL, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY and ADMIN_TOKEN (the chart creates no credentials)" .Values.existingSecret -}}
{{- end -}}

{{/* Environment of both processes: non-secret settings from values, credentials from the Secret. */}}
{{- define "hugemap.env" -}}
{{- range $key, $value := .Values.config }}
{{- if ne (toString $value) "" }}
- name: {{ $key }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}
- name: METRICS_PORT
  value: {{ .Values.api.metricsPort | quote }}
- name: WORKER_METRICS_PORT
  value: {{ .Values.worker.metricsPort | quote }}
- name: WORK_DIR
  value: /var/lib/hugemap/work
- name: SCALE_CACHE_DIR
  value: /var/lib/hugemap/scaled
- name: TMPDIR
  value: /tmp
{{- end -}}

{{- define "hugemap.envFrom" -}}
- secretRef:
    name: {{ include "hugemap.secretName" . }}
{{- end -}}
