{{/* The chart's name, or nameOverride. */}}
{{- define "kubeheal.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every object's name: the release name, with the chart's name unless it has it. */}}
{{- define "kubeheal.fullname" -}}
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

{{- define "kubeheal.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "kubeheal.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "kubeheal.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubeheal.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "kubeheal.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-operator" (include "kubeheal.fullname" .)) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The namespaces a namespace-scoped install watches: watchNamespaces, else the release's. */}}
{{- define "kubeheal.watchNamespaces" -}}
{{- if .Values.watchNamespaces }}
{{- join "," .Values.watchNamespaces }}
{{- else }}
{{- .Release.Namespace }}
{{- end }}
{{- end }}

{{- define "kubeheal.leaseName" -}}
{{- default (include "kubeheal.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{- define "kubeheal.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* A policy file's key in the ConfigMap (keys cannot hold "/"); data.json keeps its name. */}}
{{- define "kubeheal.policyKey" -}}
{{- $relative := trimPrefix "files/policies/" . }}
{{- if eq $relative "kubeheal/config/data.json" }}data.json{{ else }}{{ $relative | replace "/" "." }}{{ end }}
{{- end }}
