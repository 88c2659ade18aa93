{{/* Chart name, truncated to 63 characters (a DNS label). */}}
{{- define "flowlog-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, plus the chart name unless it already contains it. */}}
{{- define "flowlog-operator.fullname" -}}
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

{{- define "flowlog-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "flowlog-operator.labels" -}}
helm.sh/chart: {{ include "flowlog-operator.chart" . }}
{{ include "flowlog-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: flowlog-operator
{{- end }}

{{/* Labels that select the operator's pods (immutable once installed). */}}
{{- define "flowlog-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flowlog-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "flowlog-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "flowlog-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Sharding (`shards` > 1): the Deployments, PodDisruptionBudgets and Leases are rendered once per shard with a context
that carries `shard` (0, 1, ...); with one shard there is no `shard` and every name is the unsharded one.
*/}}
{{- define "flowlog-operator.shardLabel" -}}
flowlog.dev/shard
{{- end }}

{{/* Name of a shard's Deployment and PodDisruptionBudget: the full name, plus `-shard-<i>` when sharded. */}}
{{- define "flowlog-operator.shardName" -}}
{{- include "flowlog-operator.fullname" . }}
{{- if hasKey . "shard" }}-shard-{{ .shard }}{{ end }}
{{- end }}

{{/* Labels that select one shard's pods (all of the release's pods when not sharded). */}}
{{- define "flowlog-operator.shardSelectorLabels" -}}
{{ include "flowlog-operator.selectorLabels" . }}
{{- if hasKey . "shard" }}
{{ include "flowlog-operator.shardLabel" . }}: {{ .shard | quote }}
{{- end }}
{{- end }}

{{/* The Lease of a shard: `leaderElection.leaseName` (default: the full name), plus `-shard-<i>` when sharded. */}}
{{- define "flowlog-operator.leaseName" -}}
{{- default (include "flowlog-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- if hasKey . "shard" }}-shard-{{ .shard }}{{ end }}
{{- end }}

{{/* Every Lease of the release: one, or one per shard. */}}
{{- define "flowlog-operator.leaseNames" -}}
{{- $names := list }}
{{- $shards := int .Values.shards }}
{{- if gt $shards 1 }}
{{- range $i := until $shards }}
{{- $names = append $names (include "flowlog-operator.leaseName" (merge (dict "shard" $i) $)) }}
{{- end }}
{{- else }}
{{- $names = append $names (include "flowlog-operator.leaseName" .) }}
{{- end }}
{{- toJson $names }}
{{- end }}

{{- define "flowlog-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Name of the Secret with the client secret (client-secret mode). */}}
{{- define "flowlog-operator.clientSecretName" -}}
{{- if .Values.azure.auth.clientSecret.create }}
{{- printf "%s-azure" (include "flowlog-operator.fullname" .) }}
{{- else }}
{{- .Values.azure.auth.clientSecret.existingSecret }}
{{- end }}
{{- end }}

{{/* Where the client secret file is mounted (client-secret mode with mountAsFile). */}}
{{- define "flowlog-operator.clientSecretDir" -}}
/var/run/secrets/flowlog-operator/azure
{{- end }}

{{/*
A Go duration (`5s`, `1m30s`, `500ms`) in seconds, as a float.
*/}}
{{- define "flowlog-operator.seconds" -}}
{{- $units := dict "ns" 0.000000001 "us" 0.000001 "µs" 0.000001 "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0 }}
{{- $total := 0.0 }}
{{- range regexFindAll "[0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h)" . -1 }}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" . }}
{{- $total = addf $total (mulf (float64 $number) (get $units (trimPrefix $number .))) }}
{{- end }}
{{- $total }}
{{- end }}

{{/*
Checks the schema cannot express well, with messages that say what to change. values.schema.json covers the rest.
*/}}
{{- define "flowlog-operator.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicaCount > 1 needs leaderElection.enabled=true: without a leader every replica would write to Azure" }}
{{- end }}
{{- $auth := .Values.azure.auth }}
{{- if eq $auth.mode "client-secret" }}
{{- if and $auth.clientSecret.create $auth.clientSecret.existingSecret }}
{{- fail "azure.auth.clientSecret: set either existingSecret or create=true with value, not both" }}
{{- end }}
{{- end }}
{{- $chartEnv := list }}
{{- range (include "flowlog-operator.env" . | fromYamlArray) }}
{{- $chartEnv = append $chartEnv .name }}
{{- end }}
{{- if gt (int .Values.shards) 1 }}
{{- /* Each shard's Deployment sets its own selector. */}}
{{- $chartEnv = append $chartEnv "FLOWLOG_SELECTOR" }}
{{- end }}
{{- range .Values.extraEnv }}
{{- if has .name $chartEnv }}
{{- fail (printf "extraEnv sets %s, which the chart sets from its values: change the value instead (see README.md), a duplicate breaks server-side apply" .name) }}
{{- end }}
{{- end }}
{{- $grace := include "flowlog-operator.seconds" .Values.operator.shutdownGrace | float64 }}
{{- if gt (addf $grace 5) (float64 .Values.terminationGracePeriodSeconds) }}
{{- fail (printf "operator.shutdownGrace (%s) must end at least 5s before terminationGracePeriodSeconds (%v): after the grace the operator still releases its Lease and exits, and Kubernetes kills it at the end of the period" .Values.operator.shutdownGrace .Values.terminationGracePeriodSeconds) }}
{{- end }}
{{- /* What the operator refuses at start-up (`run` checks the same), refused here first. */}}
{{- $op := .Values.operator }}
{{- $poll := include "flowlog-operator.seconds" $op.lroPollInterval | float64 }}
{{- if or (lt $poll 0.1) (gt $poll 3600.0) }}
{{- fail (printf "operator.lroPollInterval (%s) must be between 100ms and 1h: shorter polls a long-running operation in a loop" $op.lroPollInterval) }}
{{- end }}
{{- $timeout := include "flowlog-operator.seconds" $op.lroTimeout | float64 }}
{{- if or (lt $timeout 1.0) (gt $timeout 86400.0) }}
{{- fail (printf "operator.lroTimeout (%s) must be between 1s and 24h" $op.lroTimeout) }}
{{- end }}
{{- if lt (include "flowlog-operator.seconds" $op.statusHeartbeat | float64) 60.0 }}
{{- fail (printf "operator.statusHeartbeat (%s) must be at least 1m: every status write is a watch event for every GitOps tool" $op.statusHeartbeat) }}
{{- end }}
{{- with $op.logDelivery }}
{{- if and .enabled (le (include "flowlog-operator.seconds" .silence | float64) (include "flowlog-operator.seconds" .checkInterval | float64)) }}
{{- fail (printf "operator.logDelivery.silence (%s) must be longer than operator.logDelivery.checkInterval (%s): a silence is seen only by a check" .silence .checkInterval) }}
{{- end }}
{{- if and .enabled (lt (include "flowlog-operator.seconds" .checkInterval | float64) 1.0) }}
{{- fail (printf "operator.logDelivery.checkInterval (%s) must be at least 1s" .checkInterval) }}
{{- end }}
{{- end }}
{{- if .Values.leaderElection.enabled }}
{{- $lease := include "flowlog-operator.seconds" .Values.leaderElection.leaseDuration | float64 }}
{{- if or (eq $lease 0.0) (ge (include "flowlog-operator.seconds" .Values.leaderElection.leaseGrace | float64) $lease) }}
{{- fail (printf "leaderElection.leaseGrace (%s) must be shorter than leaderElection.leaseDuration (%s), which must not be zero" .Values.leaderElection.leaseGrace .Values.leaderElection.leaseDuration) }}
{{- end }}
{{- end }}
{{- if and (eq .Values.rbac.secrets.mode "namespaces") (not .Values.rbac.secrets.namespaces) }}
{{- fail "rbac.secrets.mode=namespaces needs rbac.secrets.namespaces: the namespaces whose Secrets policies reference" }}
{{- end }}
{{- end }}

{{/*
What the operator may do with FlowLogPolicies, FlowLogPolicySets and their events (a ClusterRole, or a Role in
operator.watchNamespace). deploy/kustomize/base/rbac.yaml carries the same rules; a test compares them.
*/}}
{{- define "flowlog-operator.policyRules" }}
  # Policies: listed and watched by the policy controller (and by the set controller, which counts its generated
  # policies); the flowlog.dev/cleanup finalizer is added and removed with a JSON patch. Nothing reads a single policy
  # (get) or replaces one (update): the watch cache has them all.
  - apiGroups: [flowlog.dev]
    resources: [flowlogpolicies]
    verbs: [list, watch, patch]
  # The policies a FlowLogPolicySet generates: created by server-side apply (a patch that creates an object also
  # needs create) and pruned when their target leaves the set's selection (delete; the policy's finalizer then
  # carries out its deletionPolicy). Their owner reference to the set does not set blockOwnerDeletion, so the
  # operator needs nothing on flowlogpolicysets/finalizers; nothing sets an owner reference to a policy, so nothing
  # on flowlogpolicies/finalizers either.
  - apiGroups: [flowlog.dev]
    resources: [flowlogpolicies]
    verbs: [create, delete]
  # Policy status, by server-side apply (a patch; the status is never read on its own).
  - apiGroups: [flowlog.dev]
    resources: [flowlogpolicies/status]
    verbs: [patch]
  # Sets: listed and watched by the set controller, never changed (their spec is the user's).
  - apiGroups: [flowlog.dev]
    resources: [flowlogpolicysets]
    verbs: [list, watch]
  # Set status (counts, discovery, conditions), by server-side apply.
  - apiGroups: [flowlog.dev]
    resources: [flowlogpolicysets/status]
    verbs: [patch]
  # Events on transitions; patch aggregates repeats.
  - apiGroups: [events.k8s.io]
    resources: [events]
    verbs: [create, patch]
{{- end }}

{{/* The operator container's environment (without extraEnv). */}}
{{- define "flowlog-operator.env" -}}
{{- $auth := .Values.azure.auth }}
{{- $fileSecret := and (eq $auth.mode "client-secret") $auth.clientSecret.mountAsFile -}}
# Leader election: the Lease lives in the pod's namespace; the pod name is the holder identity.
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: FLOWLOG_LEADER_ELECT
  value: {{ .Values.leaderElection.enabled | quote }}
- name: FLOWLOG_LEASE_NAME
  value: {{ include "flowlog-operator.leaseName" . | quote }}
{{- if hasKey . "shard" }}
# This shard's policies: the apiserver filters the watch, so the operator caches only them.
- name: FLOWLOG_SELECTOR
  value: {{ printf "%s=%d" (include "flowlog-operator.shardLabel" .) (int .shard) | quote }}
{{- end }}
- name: FLOWLOG_LEASE_DURATION
  value: {{ .Values.leaderElection.leaseDuration | quote }}
- name: FLOWLOG_LEASE_GRACE
  value: {{ .Values.leaderElection.leaseGrace | quote }}
- name: FLOWLOG_METRICS_ADDR
  value: {{ printf "%s:%d" .Values.metrics.bindAddress (int .Values.metrics.port) | quote }}
{{- with .Values.operator.watchNamespace }}
- name: FLOWLOG_NAMESPACE
  value: {{ . | quote }}
{{- end }}
- name: FLOWLOG_CONCURRENCY
  value: {{ .Values.operator.concurrency | quote }}
- name: FLOWLOG_LRO_POLL_INTERVAL
  value: {{ .Values.operator.lroPollInterval | quote }}
- name: FLOWLOG_LRO_TIMEOUT
  value: {{ .Values.operator.lroTimeout | quote }}
- name: FLOWLOG_STATUS_HEARTBEAT
  value: {{ .Values.operator.statusHeartbeat | quote }}
- name: FLOWLOG_SHUTDOWN_GRACE
  value: {{ .Values.operator.shutdownGrace | quote }}
- name: FLOWLOG_LOG_FORMAT
  value: {{ .Values.operator.logFormat | quote }}
- name: RUST_LOG
  value: {{ .Values.operator.logLevel | quote }}
{{- if .Values.operator.registerProviders }}
- name: FLOWLOG_REGISTER_PROVIDERS
  value: "true"
{{- end }}
{{- with .Values.operator.logDelivery }}
{{- if .enabled }}
# Flow-log delivery checks (Storage Blob Data Reader on the storage accounts).
- name: FLOWLOG_CHECK_LOG_DELIVERY
  value: "true"
- name: FLOWLOG_LOG_SILENCE
  value: {{ .silence | quote }}
- name: FLOWLOG_LOG_CHECK_INTERVAL
  value: {{ .checkInterval | quote }}
- name: FLOWLOG_STORAGE_READ_BUDGET
  value: {{ .storageReadBudget | quote }}
{{- with .storageOrigin }}
- name: FLOWLOG_STORAGE_ORIGIN
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- if ne .Values.rbac.secrets.mode "none" }}
# spec.credentialsRef: Secrets are read (and their metadata watched) only where RBAC allows it.
- name: FLOWLOG_ALLOW_CREDENTIALS_REF
  value: "true"
{{- if eq .Values.rbac.secrets.mode "namespaces" }}
- name: FLOWLOG_CREDENTIALS_NAMESPACES
  value: {{ join "," .Values.rbac.secrets.namespaces | quote }}
{{- end }}
{{- end }}
# Azure cloud and endpoints.
{{- if ne .Values.azure.cloud "custom" }}
- name: FLOWLOG_CLOUD
  value: {{ .Values.azure.cloud | quote }}
{{- end }}
{{- with .Values.azure.armEndpoint }}
- name: FLOWLOG_ARM_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with .Values.azure.authorityHost }}
- name: AZURE_AUTHORITY_HOST
  value: {{ . | quote }}
{{- end }}
{{- with .Values.azure.tokenScope }}
- name: FLOWLOG_TOKEN_SCOPE
  value: {{ . | quote }}
{{- end }}
# Operator-wide Azure credentials.
- name: FLOWLOG_AUTH
  value: {{ $auth.mode | quote }}
{{- if eq $auth.mode "client-secret" }}
- name: AZURE_TENANT_ID
  value: {{ .Values.azure.tenantId | quote }}
- name: AZURE_CLIENT_ID
  value: {{ .Values.azure.clientId | quote }}
{{- if $fileSecret }}
- name: AZURE_CLIENT_SECRET_FILE
  value: {{ printf "%s/%s" (include "flowlog-operator.clientSecretDir" .) $auth.clientSecret.key | quote }}
{{- else }}
- name: AZURE_CLIENT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "flowlog-operator.clientSecretName" . }}
      key: {{ $auth.clientSecret.key }}
{{- end }}
{{- else if eq $auth.mode "managed-identity" }}
{{- with .Values.azure.clientId }}
# A user-assigned identity; without it IMDS answers for the system-assigned (or only) identity.
- name: AZURE_CLIENT_ID
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- /* workload-identity: the webhook injects AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_FEDERATED_TOKEN_FILE. */}}
{{- end }}
