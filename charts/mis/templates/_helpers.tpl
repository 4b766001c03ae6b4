{{/*
Shared named templates: names, labels, images, security contexts and the
environment every MIS service gets. Each object template calls these, so a
service differs from another only by its values block.
*/}}

{{- define "mis.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mis.fullname" -}}
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
The name of one component's objects: the full name shortened so that the
suffix always survives (two components never collide after truncation).
Call with (dict "root" $ "component" "judge").
*/}}
{{- define "mis.componentName" -}}
{{- $suffix := .component -}}
{{- $room := sub 62 (len $suffix) | int -}}
{{- printf "%s-%s" (include "mis.fullname" .root | trunc $room | trimSuffix "-") $suffix -}}
{{- end -}}

{{- define "mis.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of one component. Call with (dict "root" $ "component" NAME). */}}
{{- define "mis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mis.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* All standard labels of one component. Call with (dict "root" $ "component" NAME). */}}
{{- define "mis.labels" -}}
helm.sh/chart: {{ include "mis.chart" .root }}
{{ include "mis.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: mis
{{- end -}}

{{/* Labels every pod of this release carries, for NetworkPolicy peers. */}}
{{- define "mis.releaseSelector" -}}
app.kubernetes.io/name: {{ include "mis.name" . }}
app.kubernetes.io/instance: {{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{/* An image reference; the tag defaults to the chart's appVersion.
Call with (dict "root" $ "image" IMAGE). */}}
{{- define "mis.image" -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) -}}
{{- end -}}

{{- define "mis.imagePullSecrets" -}}
{{- if .Values.imagePullSecrets }}
imagePullSecrets:
{{- range .Values.imagePullSecrets }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Every MIS service, by name: the keys of `services` in values, the one list
the templates range over. Returned as a JSON list. */}}
{{- define "mis.serviceNames" -}}
{{- keys .Values.services | sortAlpha | toJson -}}
{{- end -}}

{{/* Headless Service name of a service: what the coordinator resolves. A
service with its own public `service` (the judge) keeps the plain name for
that one, and its headless Service is NAME-headless. */}}
{{- define "mis.headlessName" -}}
{{- $svc := index .root.Values.services .component | default dict -}}
{{- if $svc.service -}}
{{- include "mis.componentName" (dict "root" .root "component" (printf "%s-headless" .component)) -}}
{{- else -}}
{{- include "mis.componentName" . -}}
{{- end -}}
{{- end -}}

{{/* A client-side round-robin gRPC target for a service.
Call with (dict "root" $ "component" NAME). */}}
{{- define "mis.grpcTarget" -}}
{{- printf "dns:///%s.%s.svc.cluster.local:%v" (include "mis.headlessName" .) .root.Release.Namespace .root.Values.ports.grpc -}}
{{- end -}}

{{- define "mis.s3Endpoint" -}}
{{- if .Values.storage.minio.enabled -}}
{{- printf "%s.%s.svc.cluster.local:9000" (include "mis.componentName" (dict "root" . "component" "minio")) .Release.Namespace -}}
{{- else -}}
{{- required "storage.endpoint is required unless storage.minio.enabled" .Values.storage.endpoint -}}
{{- end -}}
{{- end -}}

{{- define "mis.s3Secret" -}}
{{- required "storage.existingSecret: name a Secret holding the S3 access and secret keys" .Values.storage.existingSecret -}}
{{- end -}}

{{/* The model server a name refers to, or a clear failure.
Call with (dict "root" $ "server" NAME "from" WHERE); returns it as JSON. */}}
{{- define "mis.modelServer" -}}
{{- $found := dict -}}
{{- range .root.Values.modelServers -}}
{{- if eq .name $.server -}}{{- $found = . -}}{{- end -}}
{{- end -}}
{{- if not $found -}}
{{- fail (printf "%s: server %q is not in modelServers" .from .server) -}}
{{- end -}}
{{- toJson $found -}}
{{- end -}}

{{/* A model endpoint with its defaults filled in, or a clear failure.
Call with (dict "root" $ "name" NAME "from" WHERE); returns it as JSON. */}}
{{- define "mis.endpoint" -}}
{{- $given := index .root.Values.modelEndpoints .name -}}
{{- if not $given -}}
{{- fail (printf "%s: %q is not in modelEndpoints" .from .name) -}}
{{- end -}}
{{- $defaults := dict "backend" "openai" "server" "" "baseUrl" "" "model" "" "concurrency" 8 "timeoutSeconds" 120 "apiKeySecret" (dict "name" "" "key" "api-key") -}}
{{- $endpoint := merge (deepCopy $given) $defaults -}}
{{- $_ := set $endpoint "apiKeySecret" (merge (deepCopy (get $given "apiKeySecret" | default dict)) (dict "name" "" "key" "api-key")) -}}
{{- toJson $endpoint -}}
{{- end -}}

{{- define "mis.modelServerName" -}}
{{- include "mis.componentName" (dict "root" .root "component" (printf "vllm-%s" .name)) -}}
{{- end -}}

{{/*
The environment of one service as a map (name -> value): the fixed server and
store settings, the model endpoints, the common settings and the service's own
settings, later ones overriding earlier ones. Returned as JSON.
Call with (dict "root" $ "name" NAME "svc" VALUES).
*/}}
{{- define "mis.serviceEnvMap" -}}
{{- $root := .root -}}
{{- $svc := .svc -}}
{{- $env := dict
  "MIS_HOST" "0.0.0.0"
  "MIS_PORT" (toString $root.Values.ports.grpc)
  "MIS_METRICS_PORT" (toString $root.Values.ports.metrics)
  "MIS_GRACE_SECONDS" (toString $svc.graceSeconds)
  "MIS_S3_ENDPOINT" (include "mis.s3Endpoint" $root)
  "MIS_S3_BUCKET" $root.Values.storage.bucket
  "MIS_S3_SECURE" (toString $root.Values.storage.secure)
  "MIS_S3_REGION" $root.Values.storage.region
  "HOME" "/tmp"
-}}
{{- range $prefix, $endpointName := $svc.modelEndpoints -}}
{{- $where := printf "services.%s.modelEndpoints.%s" $.name $prefix -}}
{{- $endpoint := include "mis.endpoint" (dict "root" $root "name" $endpointName "from" $where) | fromJson -}}
{{- $_ := set $env (printf "%sBACKEND" $prefix) $endpoint.backend -}}
{{- if eq $endpoint.backend "openai" -}}
{{- $baseUrl := $endpoint.baseUrl -}}
{{- $model := $endpoint.model -}}
{{- if $endpoint.server -}}
{{- $server := include "mis.modelServer" (dict "root" $root "server" $endpoint.server "from" (printf "modelEndpoints.%s" $endpointName)) | fromJson -}}
{{- $baseUrl = printf "http://%s.%s.svc.cluster.local:8000/v1" (include "mis.modelServerName" (dict "root" $root "name" $server.name)) $root.Release.Namespace -}}
{{- $model = default (default $server.model $server.servedModelName) $endpoint.model -}}
{{- end -}}
{{- $_ := set $env (printf "%sBASE_URL" $prefix) $baseUrl -}}
{{- $_ := set $env (printf "%sMODEL" $prefix) $model -}}
{{- $_ := set $env (printf "%sCONCURRENCY" $prefix) (toString $endpoint.concurrency) -}}
{{- $_ := set $env (printf "%sTIMEOUT_SECONDS" $prefix) (toString $endpoint.timeoutSeconds) -}}
{{- if $endpoint.apiKeySecret.name -}}
{{- $_ := set $env (printf "%sAPI_KEY_FILE" $prefix) (printf "/var/run/mis/model-keys/%s/%s" $endpointName $endpoint.apiKeySecret.key) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- with $svc.weights -}}
{{- $_ := set $env .pathVariable .mountPath -}}
{{- end -}}
{{- with $svc.auth -}}
{{- if .existingSecret -}}
{{- $_ := set $env "MIS_AUTH_TOKENS_FILE" (printf "/var/run/mis/auth/%s" .key) -}}
{{- end -}}
{{- end -}}
{{- with $svc.tls -}}
{{- if .existingSecret -}}
{{- $_ := set $env "MIS_TLS_CERT" "/var/run/mis/tls/tls.crt" -}}
{{- $_ := set $env "MIS_TLS_KEY" "/var/run/mis/tls/tls.key" -}}
{{- if .requireClientCert -}}
{{- $_ := set $env "MIS_TLS_CLIENT_CA" "/var/run/mis/tls/ca.crt" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and $svc.useJudge $root.Values.services.judge.enabled -}}
{{- $_ := set $env "MIS_JUDGE_ADDRESS" (include "mis.grpcTarget" (dict "root" $root "component" "judge")) -}}
{{- end -}}
{{- if $svc.serviceAddresses -}}
{{- range $other := include "mis.serviceNames" $root | fromJsonArray -}}
{{- if and (ne $other $.name) (index $root.Values.services $other).enabled -}}
{{- $var := printf "MIS_%s_ADDRESS" ($other | upper | replace "-" "_") -}}
{{- $_ := set $env $var (include "mis.grpcTarget" (dict "root" $root "component" $other)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- with $svc.training -}}
{{- $training := . -}}
{{- $_ := set $env "MIS_TRAINER_IMAGE" (include "mis.image" (dict "root" $root "image" $training.image)) -}}
{{- $_ := set $env "MIS_TRAINING_NODE_SELECTOR" (toJson $training.nodeSelector) -}}
{{- $_ := set $env "MIS_TRAINING_TOLERATIONS" (toJson $training.tolerations) -}}
{{- $_ := set $env "MIS_TRAINING_GPU_RESOURCE" $training.gpuResource -}}
{{- $_ := set $env "MIS_TRAINING_S3_SECRET" (include "mis.s3Secret" $root) -}}
{{- $_ := set $env "MIS_TRAINING_CPU" (toString $training.cpu) -}}
{{- $_ := set $env "MIS_TRAINING_MEMORY" (toString $training.memory) -}}
{{- $_ := set $env "MIS_TRAINING_SHM_SIZE" (toString $training.shmSize) -}}
{{- $_ := set $env "MIS_TRAINING_EXTRA_RESOURCES" (toJson $training.extraResources) -}}
{{- $_ := set $env "MIS_TRAINING_NCCL_ENV" (toJson $training.ncclEnv) -}}
{{- $_ := set $env "MIS_TRAINING_MAX_RESTARTS" (toString $training.maxRestarts) -}}
{{- $_ := set $env "MIS_TRAINING_CANCELLED_RETENTION_SECONDS" (toString $training.cancelledRetentionSeconds) -}}
{{- $_ := set $env "MIS_TRAINING_ENGINE" $training.engine -}}
{{- $_ := set $env "MIS_TRAINING_RUNTIME" $training.runtime -}}
{{- end -}}
{{- range $key, $value := $root.Values.commonSettings -}}
{{- $_ := set $env $key (toString $value) -}}
{{- end -}}
{{- range $key, $value := $svc.settings -}}
{{- $_ := set $env $key (toString $value) -}}
{{- end -}}
{{- toJson $env -}}
{{- end -}}

{{/*
The container `env` list of a service: the map above in name order, minus any
name that extraEnv sets (extraEnv wins), then the S3 keys from their Secret,
the pod's namespace for the coordinator, then extraEnv.
*/}}
{{- define "mis.serviceEnv" -}}
{{- $root := .root -}}
{{- $svc := .svc -}}
{{- $env := include "mis.serviceEnvMap" . | fromJson -}}
{{- $overridden := dict -}}
{{- range $svc.extraEnv -}}{{- $_ := set $overridden .name true -}}{{- end -}}
{{- range $key := keys $env | sortAlpha -}}
{{- if not (hasKey $overridden $key) }}
- name: {{ $key }}
  value: {{ index $env $key | quote }}
{{- end -}}
{{- end }}
{{- if not (hasKey $overridden "MIS_S3_ACCESS_KEY") }}
- name: MIS_S3_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "mis.s3Secret" $root }}
      key: {{ $root.Values.storage.accessKeyKey }}
{{- end }}
{{- if not (hasKey $overridden "MIS_S3_SECRET_KEY") }}
- name: MIS_S3_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "mis.s3Secret" $root }}
      key: {{ $root.Values.storage.secretKeyKey }}
{{- end }}
{{- if and $svc.serviceAccount (not (hasKey $overridden "MIS_K8S_NAMESPACE")) }}
- name: MIS_K8S_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- end }}
{{- with $svc.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The GPU limit of a container, when it asks for any. */}}
{{- define "mis.resources" -}}
{{- $resources := deepCopy (.resources | default dict) -}}
{{- if gt (int .gpus) 0 -}}
{{- $limits := deepCopy (get $resources "limits" | default dict) -}}
{{- $_ := set $limits .root.Values.gpuResourceName (toString .gpus) -}}
{{- $_ := set $resources "limits" $limits -}}
{{- end -}}
{{- if $resources -}}
{{ toYaml $resources }}
{{- else -}}
{}
{{- end -}}
{{- end -}}

{{/* The pod-placement fields shared by every workload. Call with a values block. */}}
{{- define "mis.placement" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
