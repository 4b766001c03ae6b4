{{/*
The objects of one MIS service, rendered for each entry of `services`:
Deployment, headless Service (every replica visible to client-side round
robin), PodDisruptionBudget and HorizontalPodAutoscaler. What differs between
services is in their values (weights, auth, tls, serviceAccount), never in a
branch on the service's name.
Call with (dict "root" $ "name" NAME "svc" VALUES).
*/}}

{{- define "mis.service.deployment" -}}
{{- $root := .root -}}
{{- $svc := .svc -}}
{{- $ctx := dict "root" $root "component" .name -}}
{{- $tls := (default dict $svc.tls).existingSecret -}}
{{- $auth := (default dict $svc.auth).existingSecret -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "mis.componentName" $ctx }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "mis.labels" $ctx | nindent 4 }}
spec:
  {{- if not $svc.autoscaling.enabled }}
  replicas: {{ $svc.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  {{- with $svc.strategy }}
  strategy:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "mis.selectorLabels" $ctx | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "mis.labels" $ctx | nindent 8 }}
        {{- with $svc.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $svc.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      {{- if $svc.serviceAccount }}
      serviceAccountName: {{ include "mis.componentName" $ctx }}
      automountServiceAccountToken: true
      {{- else }}
      # Only a service with a serviceAccount (the coordinator) talks to the Kubernetes API.
      automountServiceAccountToken: false
      {{- end }}
      {{- include "mis.imagePullSecrets" $root | nindent 6 }}
      {{- with $svc.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      # Longer than MIS_GRACE_SECONDS so the server finishes draining first.
      terminationGracePeriodSeconds: {{ add (int $svc.graceSeconds) 10 }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      {{- include "mis.placement" $svc | nindent 6 }}
      {{- with $svc.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .name }}
          image: {{ include "mis.image" (dict "root" $root "image" $svc.image) }}
          imagePullPolicy: {{ $root.Values.imagePullPolicy }}
          args: ["serve", {{ .name | quote }}]
          ports:
            - name: grpc
              containerPort: {{ $root.Values.ports.grpc }}
              protocol: TCP
            - name: metrics
              containerPort: {{ $root.Values.ports.metrics }}
              protocol: TCP
          env:
            {{- include "mis.serviceEnv" . | trim | nindent 12 }}
          {{- if $tls }}
          # Kubelet's gRPC probe speaks plaintext only; with TLS, check the port.
          startupProbe:
            tcpSocket: {port: grpc}
            periodSeconds: 5
            failureThreshold: {{ $svc.startupFailureThreshold }}
          readinessProbe:
            tcpSocket: {port: grpc}
            periodSeconds: 5
            failureThreshold: 2
          livenessProbe:
            tcpSocket: {port: grpc}
            periodSeconds: 10
            timeoutSeconds: 5
            failureThreshold: 3
          {{- else }}
          startupProbe:
            grpc: {port: {{ $root.Values.ports.grpc }}}
            periodSeconds: 5
            failureThreshold: {{ $svc.startupFailureThreshold }}
          readinessProbe:
            grpc: {port: {{ $root.Values.ports.grpc }}}
            periodSeconds: 5
            failureThreshold: 2
          livenessProbe:
            grpc: {port: {{ $root.Values.ports.grpc }}}
            periodSeconds: 10
            timeoutSeconds: 5
            failureThreshold: 3
          {{- end }}
          resources:
            {{- include "mis.resources" (dict "root" $root "resources" $svc.resources "gpus" $svc.gpus) | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.containerSecurityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- with $svc.weights }}
            {{- if or .pvc.claimName .hostPath }}
            - name: weights
              mountPath: {{ .mountPath }}
              readOnly: true
              {{- with .pvc.subPath }}
              subPath: {{ . }}
              {{- end }}
            {{- end }}
            {{- end }}
            {{- if $auth }}
            - name: auth-tokens
              mountPath: /var/run/mis/auth
              readOnly: true
            {{- end }}
            {{- if $tls }}
            - name: tls
              mountPath: /var/run/mis/tls
              readOnly: true
            {{- end }}
            {{- range $endpointName := include "mis.keyedEndpoints" . | fromJsonArray }}
            - name: key-{{ $endpointName }}
              mountPath: /var/run/mis/model-keys/{{ $endpointName }}
              readOnly: true
            {{- end }}
            {{- with $svc.extraVolumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 2Gi
        {{- with $svc.weights }}
        {{- if .pvc.claimName }}
        - name: weights
          persistentVolumeClaim:
            claimName: {{ .pvc.claimName }}
            readOnly: true
        {{- else if .hostPath }}
        - name: weights
          hostPath:
            path: {{ .hostPath }}
            type: Directory
        {{- end }}
        {{- end }}
        {{- if $auth }}
        - name: auth-tokens
          secret:
            secretName: {{ $auth }}
            defaultMode: 0440
            items:
              - key: {{ $svc.auth.key }}
                path: {{ $svc.auth.key }}
        {{- end }}
        {{- if $tls }}
        - name: tls
          secret:
            secretName: {{ $tls }}
            defaultMode: 0440
        {{- end }}
        {{- range $endpointName := include "mis.keyedEndpoints" . | fromJsonArray }}
        {{- $endpoint := include "mis.endpoint" (dict "root" $root "name" $endpointName "from" "modelEndpoints") | fromJson }}
        - name: key-{{ $endpointName }}
          secret:
            secretName: {{ $endpoint.apiKeySecret.name }}
            defaultMode: 0440
            items:
              - key: {{ $endpoint.apiKeySecret.key }}
                path: {{ $endpoint.apiKeySecret.key }}
        {{- end }}
        {{- with $svc.extraVolumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
{{- end -}}

{{/* The endpoints of a service whose API key comes from a Secret (a JSON list). */}}
{{- define "mis.keyedEndpoints" -}}
{{- $names := list -}}
{{- range $prefix, $endpointName := .svc.modelEndpoints -}}
{{- $endpoint := include "mis.endpoint" (dict "root" $.root "name" $endpointName "from" (printf "services.%s.modelEndpoints.%s" $.name $prefix)) | fromJson -}}
{{- if and (eq $endpoint.backend "openai") $endpoint.apiKeySecret.name -}}
{{- $names = append $names $endpointName -}}
{{- end -}}
{{- end -}}
{{- toJson ($names | uniq | sortAlpha) -}}
{{- end -}}

{{- define "mis.service.headless" -}}
{{- $root := .root -}}
{{- $ctx := dict "root" $root "component" .name -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "mis.headlessName" $ctx }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "mis.labels" $ctx | nindent 4 }}
    mis.platform/metrics: "true"
spec:
  # Headless: DNS returns every ready pod, so callers' round robin spreads calls
  # across replicas instead of pinning one long-lived HTTP/2 connection.
  clusterIP: None
  selector:
    {{- include "mis.selectorLabels" $ctx | nindent 4 }}
  ports:
    - name: grpc
      port: {{ $root.Values.ports.grpc }}
      targetPort: grpc
      protocol: TCP
      appProtocol: grpc
    - name: metrics
      port: {{ $root.Values.ports.metrics }}
      targetPort: metrics
      protocol: TCP
      appProtocol: http
{{- end -}}

{{- define "mis.service.pdb" -}}
{{- $ctx := dict "root" .root "component" .name -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "mis.componentName" $ctx }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "mis.labels" $ctx | nindent 4 }}
spec:
  {{- if hasKey .svc.podDisruptionBudget "minAvailable" }}
  minAvailable: {{ .svc.podDisruptionBudget.minAvailable }}
  {{- else }}
  maxUnavailable: {{ .svc.podDisruptionBudget.maxUnavailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "mis.selectorLabels" $ctx | nindent 6 }}
{{- end -}}

{{- define "mis.service.hpa" -}}
{{- $ctx := dict "root" .root "component" .name -}}
{{- $autoscaling := .svc.autoscaling -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "mis.componentName" $ctx }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "mis.labels" $ctx | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "mis.componentName" $ctx }}
  minReplicas: {{ $autoscaling.minReplicas }}
  maxReplicas: {{ $autoscaling.maxReplicas }}
  metrics:
    {{- if $autoscaling.metrics }}
    {{- toYaml $autoscaling.metrics | nindent 4 }}
    {{- else }}
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: 70
    {{- end }}
  {{- with $autoscaling.behavior }}
  behavior:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
