{{/* Names and labels shared by every template. */}}

{{- define "quantop.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Kubernetes names stop at 63 characters for labels and Service names. */}}
{{- define "quantop.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "quantop.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "quantop.instanceLabels" -}}
app.kubernetes.io/name: {{ include "quantop.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The component label keeps the `helm test` pod out of the operator's Service and PDB. */}}
{{- define "quantop.selectorLabels" -}}
{{ include "quantop.instanceLabels" . }}
app.kubernetes.io/component: operator
{{- end -}}

{{/*
The operator labels what it creates with app.kubernetes.io/managed-by=quantop and watches that
label; the chart's own objects keep Helm's value so the two never mix.
*/}}
{{- define "quantop.commonLabels" -}}
helm.sh/chart: {{ include "quantop.chart" . }}
{{ include "quantop.instanceLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: quantop
{{- end -}}

{{- define "quantop.labels" -}}
{{ include "quantop.commonLabels" . }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "quantop.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "quantop.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "quantop.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* kopf peering is leader election: only needed, and only granted, with several replicas. */}}
{{- define "quantop.peering" -}}
{{- if gt (int .Values.replicaCount) 1 -}}quantop{{- end -}}
{{- end -}}

{{/* Namespaces the operator watches; empty means all of them. */}}
{{- define "quantop.watchNamespaces" -}}
{{- if eq .Values.rbac.scope "namespaced" -}}
{{- if not .Values.rbac.watchNamespaces -}}
{{- fail "rbac.watchNamespaces must list at least one namespace when rbac.scope is namespaced" -}}
{{- end -}}
{{- toJson (uniq .Values.rbac.watchNamespaces) -}}
{{- else -}}
[]
{{- end -}}
{{- end -}}

{{/* The operator's config file, rendered once so the ConfigMap and the checksum annotation agree. */}}
{{- define "quantop.config" -}}
{{- $c := .Values.config -}}
{{- $profiles := dict -}}
{{- range $name, $p := $c.gpuProfiles -}}
{{- if $p -}}
{{- $_ := set $profiles $name $p -}}
{{- end -}}
{{- end -}}
{{- if not $profiles -}}
{{- fail "config.gpuProfiles must keep at least one GPU profile" -}}
{{- end -}}
{{- $cache := dict "type" $c.modelCache.type "sizeLimit" $c.modelCache.sizeLimit -}}
{{- if eq $c.modelCache.type "pvc" -}}
{{- $_ := set $cache "claimName" (required "config.modelCache.claimName is required when config.modelCache.type is pvc" $c.modelCache.claimName) -}}
{{- end -}}
{{- $validation := dict "image" (default (include "quantop.image" .) $c.validation.image) -}}
{{- if $c.validation.serviceAccountName -}}
{{- $_ := set $validation "serviceAccountName" $c.validation.serviceAccountName -}}
{{- end -}}
{{- $prometheus := dict "timeout" $c.prometheus.timeout -}}
{{- if $c.prometheus.url -}}
{{- $_ := set $prometheus "url" $c.prometheus.url -}}
{{- end -}}
{{- $secrets := dict -}}
{{- range $namespace, $names := $c.allowedSecrets -}}
{{- if $names -}}
{{- $_ := set $secrets $namespace $names -}}
{{- end -}}
{{- end -}}
{{- $config := dict "gpuProfiles" $profiles "modelCache" $cache "shmSize" $c.shmSize "validation" $validation "hubUrl" $c.hubUrl "prometheus" $prometheus "allowedImages" $c.allowedImages "allowedSecrets" $secrets "fetch" (dict "redirectHosts" $c.fetch.redirectHosts "deniedNetworks" $c.fetch.deniedNetworks) -}}
{{- toYaml $config -}}
{{- end -}}
