{{/*
Names, labels and shared pod settings. Every object name and label in this chart comes from here.
*/}}

{{/* The chart's name (or nameOverride): the app.kubernetes.io/name label. */}}
{{- define "cifer.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The base of every object name: fullnameOverride, else the release name when it already contains
the chart's name, else "<release>-<name>". Truncated to 63 characters (a DNS label).
*/}}
{{- define "cifer.fullname" -}}
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

{{/*
"<fullname>-<suffix>", the base shortened so that the whole stays within 63 characters.
Called with (list $ "suffix").
*/}}
{{- define "cifer.componentName" -}}
{{- $ctx := index . 0 -}}
{{- $suffix := index . 1 -}}
{{- $base := include "cifer.fullname" $ctx | trunc (int (sub 62 (len $suffix))) | trimSuffix "-" -}}
{{- printf "%s-%s" $base $suffix -}}
{{- end -}}

{{- define "cifer.keyservice.fullname" -}}
{{- include "cifer.componentName" (list . "keyservice") -}}
{{- end -}}

{{- define "cifer.operator.fullname" -}}
{{- include "cifer.componentName" (list . "operator") -}}
{{- end -}}

{{- define "cifer.inference.fullname" -}}
{{- include "cifer.componentName" (list . "inference") -}}
{{- end -}}

{{/* The Secret holding the operator's webhook serving certificate (tls.crt, tls.key, ca.crt). */}}
{{- define "cifer.operator.tlsSecretName" -}}
{{- include "cifer.componentName" (list . "operator-tls") -}}
{{- end -}}

{{/* The peering object the operator replicas share. */}}
{{- define "cifer.operator.peeringName" -}}
{{- include "cifer.fullname" . -}}
{{- end -}}

{{/* The name the API server calls the webhooks by: the operator's Service in this namespace. */}}
{{- define "cifer.operator.webhookHost" -}}
{{- printf "%s.%s.svc" (include "cifer.operator.fullname" .) .Release.Namespace -}}
{{- end -}}

{{/* The key service's in-cluster host name: its Service, the name on its certificate. */}}
{{- define "cifer.keyservice.host" -}}
{{- printf "%s.%s.svc" (include "cifer.keyservice.fullname" .) .Release.Namespace -}}
{{- end -}}

{{/* The key service's in-cluster URL (HTTPS), for the operator and for injected sidecars. */}}
{{- define "cifer.keyservice.url" -}}
{{- printf "https://%s:%d" (include "cifer.keyservice.host" .) (int .Values.keyservice.port) -}}
{{- end -}}

{{/* The inference server's in-cluster host name. */}}
{{- define "cifer.inference.host" -}}
{{- printf "%s.%s.svc" (include "cifer.inference.fullname" .) .Release.Namespace -}}
{{- end -}}

{{/* The inference server's in-cluster URL (HTTPS), for injected sidecars. */}}
{{- define "cifer.inference.url" -}}
{{- printf "https://%s:%d" (include "cifer.inference.host" .) (int .Values.inference.port) -}}
{{- end -}}

{{/*
The Secrets of the serving certificates (tls.crt, tls.key, and ca.crt: the CA that signed them,
which the operator and the sidecars verify the servers against), and of that CA (tls.crt, tls.key).
*/}}
{{- define "cifer.keyservice.tlsSecretName" -}}
{{- include "cifer.componentName" (list . "keyservice-tls") -}}
{{- end -}}

{{- define "cifer.inference.tlsSecretName" -}}
{{- include "cifer.componentName" (list . "inference-tls") -}}
{{- end -}}

{{- define "cifer.caSecretName" -}}
{{- include "cifer.componentName" (list . "ca") -}}
{{- end -}}

{{/* Where a container finds a serving certificate, and where the clients find its CA. */}}
{{- define "cifer.tlsDir" -}}
/etc/cifer/serving-tls
{{- end -}}

{{- define "cifer.caFile" -}}
/etc/cifer/ca/ca.crt
{{- end -}}

{{/* The chart label: "<name>-<version>". */}}
{{- define "cifer.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The labels a Deployment's selector matches: stable across upgrades, so never the version.
Called with (list $ "component").
*/}}
{{- define "cifer.selectorLabels" -}}
{{- $ctx := index . 0 -}}
app.kubernetes.io/name: {{ include "cifer.name" $ctx }}
app.kubernetes.io/instance: {{ $ctx.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* Every object's labels. Called with (list $ "component"). */}}
{{- define "cifer.labels" -}}
{{- $ctx := index . 0 -}}
helm.sh/chart: {{ include "cifer.chart" $ctx }}
{{ include "cifer.selectorLabels" . }}
app.kubernetes.io/version: {{ $ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $ctx.Release.Service }}
app.kubernetes.io/part-of: cifer
{{- end -}}

{{- define "cifer.keyservice.serviceAccountName" -}}
{{- if .Values.keyservice.serviceAccount.create -}}
{{- default (include "cifer.keyservice.fullname" .) .Values.keyservice.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.keyservice.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "cifer.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create -}}
{{- default (include "cifer.operator.fullname" .) .Values.operator.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.operator.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "cifer.inference.serviceAccountName" -}}
{{- if .Values.inference.serviceAccount.create -}}
{{- default (include "cifer.inference.fullname" .) .Values.inference.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.inference.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The one image every CIFER process runs. */}}
{{- define "cifer.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The image the injector gives the cifer-proxy sidecar. */}}
{{- define "cifer.proxyImage" -}}
{{- default (include "cifer.image" .) .Values.injection.proxyImage -}}
{{- end -}}

{{/* "true" when cert-manager makes the webhook certificate, else "" (the chart makes it). */}}
{{- define "cifer.webhook.useCertManager" -}}
{{- if and .Values.webhook.certManager.enabled (.Capabilities.APIVersions.Has "cert-manager.io/v1") -}}
true
{{- end -}}
{{- end -}}

{{/* The PodDisruptionBudget API: policy/v1 from Kubernetes 1.21, policy/v1beta1 before. */}}
{{- define "cifer.pdb.apiVersion" -}}
{{- if .Capabilities.APIVersions.Has "policy/v1" -}}
policy/v1
{{- else -}}
policy/v1beta1
{{- end -}}
{{- end -}}

{{/*
A PodDisruptionBudget's spec for a component: the values' minAvailable/maxUnavailable when one
is set, else minAvailable 1 with several replicas (a drain keeps one serving) and maxUnavailable
1 with a single replica (a PDB that blocked every drain would stop node maintenance).
Called with (list replicas podDisruptionBudget-values).
*/}}
{{- define "cifer.pdb.budget" -}}
{{- $replicas := int (index . 0) -}}
{{- $pdb := index . 1 -}}
{{- if not (kindIs "invalid" $pdb.minAvailable) -}}
minAvailable: {{ $pdb.minAvailable }}
{{- else if not (kindIs "invalid" $pdb.maxUnavailable) -}}
maxUnavailable: {{ $pdb.maxUnavailable }}
{{- else if gt $replicas 1 -}}
minAvailable: 1
{{- else -}}
maxUnavailable: 1
{{- end -}}
{{- end -}}

{{/* The pod security context of every CIFER pod: the image's non-root user, seccomp on. */}}
{{- define "cifer.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The security context of every CIFER container: nothing to escalate to, nothing to write. */}}
{{- define "cifer.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
{{- end -}}

{{/* imagePullSecrets, nodeSelector, tolerations and affinity of a pod. Called with (list $ component-values). */}}
{{- define "cifer.podScheduling" -}}
{{- $ctx := index . 0 -}}
{{- $component := index . 1 -}}
{{- with $ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $component.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $component.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $component.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
Rules across values that the schema cannot express. The key service keeps its state (SQLite)
and its dev-mode key-encryption key in its data directory, a ReadWriteOnce volume: several
replicas need PostgreSQL and an HSM.
*/}}
{{- define "cifer.validateValues" -}}
{{- $ks := .Values.keyservice -}}
{{- if and (gt (int $ks.replicas) 1) (not $ks.database.existingSecret) -}}
{{- fail "keyservice.replicas > 1 needs PostgreSQL (keyservice.database.existingSecret): SQLite on a ReadWriteOnce volume serves one replica" -}}
{{- end -}}
{{- if and (gt (int $ks.replicas) 1) (not $ks.hsm.library) -}}
{{- fail "keyservice.replicas > 1 needs an HSM (keyservice.hsm.library): the file key-encryption key is one per data volume" -}}
{{- end -}}
{{- if and $ks.hsm.library (or (not $ks.hsm.tokenLabel) (not $ks.hsm.pinSecret.name)) -}}
{{- fail "keyservice.hsm.library needs keyservice.hsm.tokenLabel and keyservice.hsm.pinSecret.name" -}}
{{- end -}}
{{- if and (gt (int .Values.operator.replicas) 1) (not .Values.operator.peering.enabled) -}}
{{- fail "operator.replicas > 1 needs operator.peering.enabled: without peering every replica would act" -}}
{{- end -}}
{{- end -}}

{{/* "true" when the key service's data directory must survive restarts (SQLite or the file KEK). */}}
{{- define "cifer.keyservice.persistent" -}}
{{- if or (not .Values.keyservice.database.existingSecret) (not .Values.keyservice.hsm.library) -}}
true
{{- end -}}
{{- end -}}
