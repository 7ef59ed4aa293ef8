import React, { useEffect } from 'react';
import { DataSourcePluginOptionsEditorProps } from '@grafana/data';
import { Button, Field, FieldSet, IconButton, Input, InlineSwitch, RadioButtonGroup, Stack, Text } from '@grafana/ui';

import {
  AuditDataSourceOptions,
  AuditSecureJsonData,
  AuditSource,
  DEFAULT_MAX_LINE_BYTES,
  Envelope,
  FileSourceOptions,
} from '../types';
import { CloudWatchSection } from './config/CloudWatchSection';
import { DetectionsSection } from './config/DetectionsSection';
import { LokiSection } from './config/LokiSection';

export type Props = DataSourcePluginOptionsEditorProps<AuditDataSourceOptions, AuditSecureJsonData>;

const SOURCE_OPTIONS: Array<{ value: AuditSource; label: string; description: string }> = [
  {
    value: 'file',
    label: 'Local audit files',
    description: 'Files written by kube-apiserver --audit-log-path, read by the Grafana server.',
  },
  { value: 'loki', label: 'Loki', description: 'Audit logs shipped to Loki by Promtail or Alloy.' },
  {
    value: 'cloudwatch',
    label: 'CloudWatch Logs (EKS)',
    description: 'EKS control-plane audit logs in CloudWatch Logs (kube-apiserver-audit-* streams).',
  },
];

const ENVELOPE_OPTIONS: Array<{ value: Envelope; label: string; description: string }> = [
  { value: 'auto', label: 'Auto', description: 'Detect the format of each line (default).' },
  { value: 'bare', label: 'Audit JSON', description: 'Bare audit events, as --audit-log-path writes them.' },
  {
    value: 'cri',
    label: 'CRI',
    description: 'containerd/CRI-O container log lines (<time> stdout F {...}); partial lines are joined.',
  },
  { value: 'docker', label: 'Docker', description: 'docker json-file lines ({"log":"{...}\\n","stream":...}).' },
  {
    value: 'fluentbit',
    label: 'Fluent Bit / Vector',
    description: 'Records with the event under log or message, as a string or an object.',
  },
  {
    value: 'gke',
    label: 'GKE',
    description: 'Cloud Logging LogEntry with an AuditLog protoPayload (mapped to audit fields; lossy).',
  },
  {
    value: 'aks',
    label: 'AKS',
    description: 'Azure diagnostic records (kube-audit) with the event in properties.log.',
  },
];

export function ConfigEditor({ options, onOptionsChange }: Props) {
  const jsonData = options.jsonData;
  const source: AuditSource = jsonData.source ?? 'file';
  const file: FileSourceOptions = jsonData.file ?? { paths: [] };
  const paths = file.paths ?? [];

  // A new datasource has empty jsonData: store the source explicitly so the backend never guesses.
  useEffect(() => {
    if (!options.jsonData.source) {
      onOptionsChange({ ...options, jsonData: { ...options.jsonData, source: 'file' } });
    }
  }, [options, onOptionsChange]);

  const updateFile = (patch: Partial<FileSourceOptions>) => {
    onOptionsChange({
      ...options,
      jsonData: { ...jsonData, source, file: { ...file, paths, ...patch } },
    });
  };
  const setPath = (index: number, value: string) =>
    updateFile({ paths: paths.map((p, i) => (i === index ? value : p)) });
  const removePath = (index: number) => updateFile({ paths: paths.filter((_, i) => i !== index) });
  const addPath = () => updateFile({ paths: [...paths, ''] });

  return (
    <Stack direction="column" gap={2}>
      <FieldSet label="Source">
        <Field label="Audit log source" description={SOURCE_OPTIONS.find((o) => o.value === source)?.description}>
          <RadioButtonGroup<AuditSource>
            aria-label="Audit log source"
            options={SOURCE_OPTIONS}
            value={source}
            onChange={(next) => onOptionsChange({ ...options, jsonData: { ...jsonData, source: next } })}
          />
        </Field>
        <Field
          label="Line format"
          description={ENVELOPE_OPTIONS.find((o) => o.value === (jsonData.envelope ?? 'auto'))?.description}
        >
          <RadioButtonGroup<Envelope>
            aria-label="Line format"
            options={ENVELOPE_OPTIONS}
            value={jsonData.envelope ?? 'auto'}
            onChange={(next) =>
              onOptionsChange({ ...options, jsonData: { ...jsonData, envelope: next === 'auto' ? undefined : next } })
            }
          />
        </Field>
        <Field
          label="Query timeout"
          description="How long one query may run, for every source: a duration such as 90s or 5m (at most 24h). Default 60s."
        >
          <Input
            id="audit-query-timeout"
            width={20}
            placeholder="60s"
            value={jsonData.queryTimeout ?? ''}
            onChange={(e) =>
              onOptionsChange({
                ...options,
                jsonData: { ...jsonData, queryTimeout: e.currentTarget.value.trim() || undefined },
              })
            }
          />
        </Field>
      </FieldSet>

      {source === 'file' && (
        <FieldSet label="Local audit files">
          <Field
            label="Paths"
            description="Directories, files or glob patterns on the Grafana server, e.g. /var/log/kubernetes/audit or /var/log/*/audit.log. A directory gives its *.log, *.jsonl and gzipped files; a file also gives its rotated siblings (audit-<time>.log[.gz]). The Grafana server user needs read permission: kube-apiserver writes audit logs with mode 0600."
          >
            <Stack direction="column" gap={1}>
              {paths.length === 0 && (
                <Text color="secondary" italic>
                  No paths yet.
                </Text>
              )}
              {paths.map((p, i) => (
                <Stack key={i} direction="row" gap={1} alignItems="center">
                  <Input
                    id={`audit-path-${i}`}
                    aria-label={`Path ${i + 1}`}
                    width={60}
                    value={p}
                    placeholder="/var/log/kubernetes/audit"
                    onChange={(e) => setPath(i, e.currentTarget.value)}
                  />
                  <IconButton name="trash-alt" tooltip={`Remove path ${i + 1}`} onClick={() => removePath(i)} />
                </Stack>
              ))}
              <div>
                <Button variant="secondary" icon="plus" size="sm" onClick={addPath}>
                  Add path
                </Button>
              </div>
            </Stack>
          </Field>
          <Field
            label="Max line bytes"
            description={`Longer lines (single audit events can exceed 1 MB) are skipped and reported. Default ${DEFAULT_MAX_LINE_BYTES} (4 MiB).`}
          >
            <Input
              id="audit-max-line-bytes"
              type="number"
              min={1024}
              width={20}
              placeholder={String(DEFAULT_MAX_LINE_BYTES)}
              value={file.maxLineBytes ?? ''}
              onChange={(e) => {
                const n = parseInt(e.currentTarget.value, 10);
                updateFile({ maxLineBytes: Number.isFinite(n) && n > 0 ? n : undefined });
              }}
            />
          </Field>
          <Field
            label="Max gzip ratio"
            description="A .gz file is read up to this many times its compressed size (audit logs compress about 10×); past it, reading stops with a notice (a gzip bomb). Default 64."
          >
            <Input
              id="audit-max-gzip-ratio"
              type="number"
              min={1}
              width={20}
              placeholder="64"
              value={file.maxGzipRatio ?? ''}
              onChange={(e) => updateFile({ maxGzipRatio: positive(e.currentTarget.value) })}
            />
          </Field>
          <Field
            label="Result cache"
            description="Keep each file's partial results in memory, so a dashboard refresh reads only what changed since the last one."
          >
            <Stack direction="row" gap={1} alignItems="center">
              <InlineSwitch
                aria-label="Result cache"
                value={file.cache ?? true}
                onChange={(e) => updateFile({ cache: e.currentTarget.checked ? undefined : false })}
              />
              <Input
                aria-label="Result cache size (MB)"
                type="number"
                min={1}
                width={12}
                placeholder="512"
                suffix="MB"
                disabled={file.cache === false}
                value={file.cacheSizeMB ?? ''}
                onChange={(e) => updateFile({ cacheSizeMB: positive(e.currentTarget.value) })}
              />
            </Stack>
          </Field>
          <Field
            label="Column index"
            description="Keep a column index of each file on disk, so new queries read columns instead of JSON. Leave the directory empty for one under the Grafana user's cache directory; the health check says which."
          >
            <Stack direction="row" gap={1} alignItems="center">
              <InlineSwitch
                aria-label="Column index"
                value={file.index ?? true}
                onChange={(e) => updateFile({ index: e.currentTarget.checked ? undefined : false })}
              />
              <Input
                aria-label="Index directory"
                width={40}
                placeholder="default"
                disabled={file.index === false}
                value={file.indexDir ?? ''}
                onChange={(e) => updateFile({ indexDir: e.currentTarget.value || undefined })}
              />
              <Input
                aria-label="Index size (MB)"
                type="number"
                min={1}
                width={12}
                placeholder="2048"
                suffix="MB"
                disabled={file.index === false}
                value={file.indexSizeMB ?? ''}
                onChange={(e) => updateFile({ indexSizeMB: positive(e.currentTarget.value) })}
              />
            </Stack>
          </Field>
        </FieldSet>
      )}
      {source === 'loki' && <LokiSection options={options} onOptionsChange={onOptionsChange} />}
      {source === 'cloudwatch' && <CloudWatchSection options={options} onOptionsChange={onOptionsChange} />}
      <DetectionsSection options={options} onOptionsChange={onOptionsChange} />
    </Stack>
  );
}

/** positive parses a whole number above 0, else undefined (the default). */
function positive(v: string): number | undefined {
  const n = parseInt(v, 10);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}
