{{/*
Names, labels and the values every template derives from them.
*/}}

{{- define "hyperprune.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name: "<release>-hyperprune", or the release name when it already contains the chart's. */}}
{{- define "hyperprune.fullname" -}}
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

{{- define "hyperprune.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Standard labels (https://helm.sh/docs/chart_best_practices/labels/), without the component. */}}
{{- define "hyperprune.commonLabels" -}}
helm.sh/chart: {{ include "hyperprune.chart" . }}
app.kubernetes.io/name: {{ include "hyperprune.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hyperprune
{{- end }}

{{/* Labels of the operator's objects. */}}
{{- define "hyperprune.labels" -}}
{{ include "hyperprune.commonLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{/* Selector labels: stable across upgrades (a Deployment's selector is immutable). */}}
{{- define "hyperprune.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hyperprune.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "hyperprune.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "hyperprune.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "hyperprune.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* "true" when the operator watches every namespace (watchNamespaces is empty). */}}
{{- define "hyperprune.allNamespaces" -}}
{{- if empty .Values.watchNamespaces }}true{{ end }}
{{- end }}

{{/*
Who creates the trial pods' ServiceAccount, Role and RoleBinding ("chart" or "operator").
auto: the chart when it knows the namespaces (watchNamespaces set), so that the operator needs no
right to create RBAC objects; the operator (on first use of a namespace) when it watches them all.
*/}}
{{- define "hyperprune.trialRbacManagedBy" -}}
{{- $mode := .Values.trials.rbac.managedBy }}
{{- if eq $mode "auto" }}
{{- if include "hyperprune.allNamespaces" . }}operator{{ else }}chart{{ end }}
{{- else if and (eq $mode "chart") (include "hyperprune.allNamespaces" .) }}
{{- fail "trials.rbac.managedBy=chart needs watchNamespaces: the chart can only create the trial ServiceAccount in namespaces it knows" }}
{{- else }}
{{- $mode }}
{{- end }}
{{- end }}

{{- define "hyperprune.peering" -}}
{{- if .Values.peering.enabled }}true{{ end }}
{{- end }}

{{/* The operator's rules in each namespace it watches (operator/hyperprune_operator/rbac.py
OPERATOR_NAMESPACED_RULES); called with a dict: operatorTrialRbac, peering. */}}
{{- define "hyperprune.namespacedRules" -}}
# searches: watch, kopf's finalizer and annotations, status
- apiGroups: ["hyperprune.io"]
  resources: ["hyperprunesearches"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["hyperprune.io"]
  resources: ["hyperprunesearches/status"]
  verbs: ["get", "patch"]
# trials: one per candidate, owned by the search
- apiGroups: ["hyperprune.io"]
  resources: ["hyperprunetrials"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["hyperprune.io"]
  resources: ["hyperprunetrials/status"]
  verbs: ["get", "patch"]
# blockOwnerDeletion on the ownerReferences of trials and pods
- apiGroups: ["hyperprune.io"]
  resources: ["hyperprunesearches/finalizers", "hyperprunetrials/finalizers"]
  verbs: ["update"]
# one pod per trial attempt, plus the promotion pod
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch", "create", "delete"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- if .operatorTrialRbac }}
# the trial pods' ServiceAccount, Role and RoleBinding, created per namespace on first use
- apiGroups: [""]
  resources: ["serviceaccounts"]
  verbs: ["get", "create"]
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["roles", "rolebindings"]
  verbs: ["get", "create"]
{{- end }}
{{- if .peering }}
# kopf peering: heartbeats of the replicas
- apiGroups: ["kopf.dev"]
  resources: ["kopfpeerings"]
  verbs: ["get", "list", "watch", "patch", "create"]
{{- end }}
{{- end }}
