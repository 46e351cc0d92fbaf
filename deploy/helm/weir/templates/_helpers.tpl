{{/* SPDX-License-Identifier: Apache-2.0 */}}
{{- define "weir.name" -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "weir.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "weir.labels" -}}
app.kubernetes.io/name: weir
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "weir.selector" -}}
app.kubernetes.io/name: weir
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "weir.webhookService" -}}
{{- printf "%s-webhook" (include "weir.name" .) -}}
{{- end -}}

{{- define "weir.peerKeySecret" -}}
{{- default (printf "%s-peer-key" (include "weir.name" .)) .Values.cluster.keySecret -}}
{{- end -}}

{{- define "weir.metricsTokenSecret" -}}
{{- default (printf "%s-metrics-token" (include "weir.name" .)) .Values.metrics.tokenSecret -}}
{{- end -}}
