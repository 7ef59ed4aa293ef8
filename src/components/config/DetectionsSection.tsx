import React, { useState } from 'react';
import {
  Box,
  Button,
  Combobox,
  ComboboxOption,
  Field,
  FieldSet,
  IconButton,
  InlineField,
  InlineFieldRow,
  Input,
  Stack,
  Switch,
  Text,
} from '@grafana/ui';

import { DETECTION_ALLOW_KEYS, DetectionAllow, DetectionRuleSettings, DetectionSettings } from '../../types';
import { DETECTION_RULES } from '../editor/model';
import { isLookback, isPositiveDuration, isSourceNetwork } from '../editor/validate';
import { StringListInput } from '../ListInput';
import type { Props } from '../ConfigEditor';
import { TextField } from './fields';

type AllowKey = keyof DetectionAllow;

/** What each allow-list matches, for a security engineer deciding what to put in it. */
const ALLOW_FIELDS: Record<AllowKey, { label: string; placeholder: string; description: string }> = {
  users: {
    label: 'Users',
    placeholder: 'system:serviceaccount:ci:*, alice',
    description: 'Findings about requests made by these users are dropped. * globs.',
  },
  groups: {
    label: 'Groups',
    placeholder: 'platform-admins, oidc:sre',
    description: 'Findings about requests whose user belongs to one of these groups are dropped. * globs.',
  },
  namespaces: {
    label: 'Namespaces',
    placeholder: 'debug-*, ci',
    description:
      'Findings about objects in these namespaces are dropped; findings about cluster-scoped objects are kept. * globs.',
  },
  images: {
    label: 'Images',
    placeholder: 'registry.example.com/debug/*',
    description:
      'Privileged or host-access workload findings are dropped when a flagged container runs one of these images. * globs.',
  },
  sourceNetworks: {
    label: 'Source networks',
    placeholder: '10.0.0.0/8, 192.0.2.10',
    description: 'Findings about requests from these source addresses are dropped. CIDRs or IP addresses.',
  },
};

const DEFAULT_BURST_THRESHOLD = 10;

/** The backend rejects the detections settings for these: detections queries (and alert rules on
 * them) fail, and the health check says why, until they are fixed. Other queries keep working. */
const FAILS = 'Detections queries of this datasource fail until this is fixed.';
/** A value the settings cannot even be read with (a fractional number where a count belongs). */
const BREAKS = 'Every query of this datasource fails until this is fixed.';

// --- the stored settings ---------------------------------------------------------------------

/** The allow-list without empty lists; undefined when no list is left. */
export function pruneAllow(allow: DetectionAllow | undefined): DetectionAllow | undefined {
  const out: DetectionAllow = {};
  for (const key of DETECTION_ALLOW_KEYS) {
    const list = allow?.[key]?.filter((v) => v.trim() !== '');
    if (list?.length) {
      out[key] = list;
    }
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * The settings without empty values, so that the backend's defaults apply: absent fields rather
 * than empty strings and lists; undefined when nothing is set.
 */
export function pruneDetections(d: DetectionSettings): DetectionSettings | undefined {
  const out: DetectionSettings = {};
  const allow = pruneAllow(d.allow);
  if (allow) {
    out.allow = allow;
  }
  if (d.rules && Object.keys(d.rules).length > 0) {
    out.rules = d.rules;
  }
  if (d.burstThreshold !== undefined && d.burstThreshold !== null) {
    out.burstThreshold = d.burstThreshold;
  }
  if (d.profile) {
    out.profile = d.profile;
  }
  const networks = d.clusterNetworks?.filter((v) => v.trim() !== '');
  if (networks?.length) {
    out.clusterNetworks = networks;
  }
  for (const key of ['burstWindow', 'rbacLookback'] as const) {
    // Kept as typed (a controlled input that trimmed would eat the spaces being typed); the
    // messages point out what the backend would not parse.
    const v = d[key];
    if (v && v.trim() !== '') {
      out[key] = v;
    }
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

// --- validation, as pkg/models DetectionSettings.DetectConfig -----------------------------------

/** The message for a list of source networks, or undefined when every entry is a CIDR or an IP. */
export function sourceNetworksError(networks: string[] | undefined): string | undefined {
  const bad = (networks ?? []).filter((n) => !isSourceNetwork(n));
  if (bad.length === 0) {
    return undefined;
  }
  const what = bad.map((n) => JSON.stringify(n)).join(', ');
  return `${what} ${bad.length === 1 ? 'is' : 'are'} neither a CIDR (10.0.0.0/8) nor an IP address. ${FAILS}`;
}

export function burstThresholdError(n: number | undefined): string | undefined {
  if (n === undefined || n === null || (Number.isInteger(n) && n > 0)) {
    return undefined;
  }
  // 0 is the backend's "unset"; a negative threshold fails the detections settings, a fractional
  // one cannot be read into the backend's whole number at all.
  const why =
    n === 0
      ? `0 means the default (${DEFAULT_BURST_THRESHOLD}): leave it empty instead.`
      : Number.isInteger(n)
        ? FAILS
        : BREAKS;
  return `The threshold must be a whole number of at least 1. ${why}`;
}

export function burstWindowError(w: string | undefined): string | undefined {
  if (!w || isPositiveDuration(w)) {
    return undefined;
  }
  return `${JSON.stringify(w)} is not a positive duration such as 30s, 5m or 1h. ${FAILS}`;
}

export function lookbackError(l: string | undefined): string | undefined {
  if (!l || isLookback(l)) {
    return undefined;
  }
  return `${JSON.stringify(l)} is not a duration such as 90m, 24h or 7d (0 turns the look-back off). ${FAILS}`;
}

// --- the rows of per-rule allow-lists ----------------------------------------------------------

/** One row of the per-rule allow-lists; rows without a rule (just added) are not stored yet. */
interface RuleRow {
  key: number;
  rule?: string;
  allow: DetectionAllow;
}

type RuleMap = Record<string, DetectionRuleSettings>;

/** The stored map of the rows: rows with a rule and at least one list, first row of a rule wins. */
function rulesOf(rows: RuleRow[]): RuleMap | undefined {
  const out: RuleMap = {};
  for (const row of rows) {
    const allow = pruneAllow(row.allow);
    if (row.rule && allow && !(row.rule in out)) {
      out[row.rule] = { allow };
    }
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Keys of rows, unique in the page (React keys of the rows). */
let lastRowKey = 0;
const newRowKey = () => ++lastRowKey;

function rowsOf(rules: RuleMap | undefined): RuleRow[] {
  return Object.entries(rules ?? {}).map(([rule, s]) => ({ key: newRowKey(), rule, allow: s?.allow ?? {} }));
}

const KNOWN_RULES = new Set(DETECTION_RULES.map((r) => r.id));

const RULE_OPTIONS: Array<ComboboxOption<string>> = DETECTION_RULES.map((r) => ({
  value: r.id,
  label: r.id,
  description: r.severity,
}));

const LABEL_WIDTH = 18;

/**
 * Datasource-wide settings of the detections query type (jsonData.detections): allow-lists for
 * every rule and for single rules, the 401/403 burst tunables and the RBAC look-back.
 */
export function DetectionsSection({ options, onOptionsChange }: Props) {
  const settings: DetectionSettings = options.jsonData.detections ?? {};
  const update = (patch: Partial<DetectionSettings>) =>
    onOptionsChange({
      ...options,
      jsonData: { ...options.jsonData, detections: pruneDetections({ ...settings, ...patch }) },
    });

  // Rows live here so that a row can exist before its rule is picked; the stored map follows
  // them. A change of the map from outside (not one of ours) rebuilds the rows.
  const [rows, setRows] = useState<RuleRow[]>(() => rowsOf(settings.rules));
  const [seen, setSeen] = useState(() => JSON.stringify(settings.rules ?? null));
  const stored = JSON.stringify(settings.rules ?? null);
  if (stored !== seen) {
    setSeen(stored);
    setRows(rowsOf(settings.rules));
  }
  const updateRows = (next: RuleRow[]) => {
    const rules = rulesOf(next);
    setRows(next);
    setSeen(JSON.stringify(rules ?? null));
    update({ rules });
  };
  const updateRow = (key: number, patch: Partial<RuleRow>) =>
    updateRows(rows.map((r) => (r.key === key ? { ...r, ...patch } : r)));

  const allow = settings.allow ?? {};

  return (
    <FieldSet label="Detections">
      <Box marginBottom={2}>
        <Text color="secondary" element="p">
          Tune the security detections (the Detections query type, the security dashboard and the alert rules built on
          it) for this datasource. An allow-list drops findings about activity you know to be legitimate, such as a CI
          service account or a debug namespace: dropped findings are not shown, counted or alerted on. These lists apply
          to every detections query of this datasource; a query can add its own in the query editor but cannot remove
          these. Keep them narrow: an allowed attacker is invisible.
        </Text>
      </Box>

      <Field
        label="Known-good profile"
        description="Leave out what clusters do by design: kube-state-metrics listing every secret; kube-proxy, aws-node (VPC CNI), ebs-csi-node and node-exporter pods being privileged (their namespace, name and every image must match); EKS's own eks:* users. A notice on each query counts what it left out. Off by default."
      >
        <Switch
          id="audit-detections-profile"
          value={settings.profile === 'knownGood'}
          onChange={(e) => update({ profile: e.currentTarget.checked ? 'knownGood' : undefined })}
        />
      </Field>
      <Field
        label="Cluster networks"
        description="The cluster's own networks (nodes, pods, control plane), CIDRs or IP addresses: a service-account token or node credential used from outside them (token-outside-cluster), and anonymous requests from outside them (anonymous-outside-cluster), are findings. Empty: those two rules judge nothing."
        invalid={Boolean(sourceNetworksError(settings.clusterNetworks))}
        error={sourceNetworksError(settings.clusterNetworks)}
      >
        <StringListInput
          id="audit-detections-cluster-networks"
          width={60}
          placeholder="10.0.0.0/16, 172.16.0.0/12"
          value={settings.clusterNetworks}
          onChange={(clusterNetworks) => update({ clusterNetworks })}
        />
      </Field>

      <Box marginTop={1} marginBottom={1}>
        <Text element="h5">Allowed for every rule</Text>
      </Box>
      {DETECTION_ALLOW_KEYS.map((key) => {
        const f = ALLOW_FIELDS[key];
        const error = key === 'sourceNetworks' ? sourceNetworksError(allow.sourceNetworks) : undefined;
        return (
          <Field key={key} label={f.label} description={f.description} invalid={Boolean(error)} error={error}>
            <StringListInput
              id={`audit-detections-allow-${key}`}
              width={60}
              placeholder={f.placeholder}
              value={allow[key]}
              onChange={(list) => update({ allow: { ...allow, [key]: list } })}
            />
          </Field>
        );
      })}

      <Box marginTop={1}>
        <Text element="h5">Allowed for single rules</Text>
      </Box>
      <Box marginBottom={2}>
        <Text color="secondary" element="p">
          Drop a rule&apos;s findings only, for example exec into pods in debug namespaces while keeping every other
          rule there. These add to the lists above.
        </Text>
      </Box>
      <Stack direction="column" gap={2}>
        {rows.map((row, i) => (
          <RuleRowEditor
            key={row.key}
            index={i}
            row={row}
            taken={rows.filter((r) => r.key !== row.key && r.rule).map((r) => r.rule!)}
            onChange={(patch) => updateRow(row.key, patch)}
            onRemove={() => updateRows(rows.filter((r) => r.key !== row.key))}
          />
        ))}
        <div>
          <Button
            variant="secondary"
            icon="plus"
            size="sm"
            onClick={() => setRows([...rows, { key: newRowKey(), allow: {} }])}
          >
            Add rule allow-list
          </Button>
        </div>
      </Stack>

      <Box marginTop={3} marginBottom={1}>
        <Text element="h5">Tuning</Text>
      </Box>
      <Field
        label="Burst threshold"
        description={`How many 401/403 responses to one source IP or user within the burst window make a denied-burst finding; also how many access reviews by one user make a permission-enumeration finding. Default ${DEFAULT_BURST_THRESHOLD}. A query can set its own.`}
        invalid={Boolean(burstThresholdError(settings.burstThreshold))}
        error={burstThresholdError(settings.burstThreshold)}
      >
        <Input
          id="audit-detections-burst-threshold"
          type="number"
          min={1}
          step={1}
          width={20}
          placeholder={String(DEFAULT_BURST_THRESHOLD)}
          value={settings.burstThreshold ?? ''}
          onChange={(e) => {
            const text = e.currentTarget.value.trim();
            const n = Number(text);
            // Invalid numbers are kept so that the message says what is wrong.
            update({ burstThreshold: text === '' || !Number.isFinite(n) ? undefined : n });
          }}
        />
      </Field>
      <TextField
        id="audit-detections-burst-window"
        label="Burst window"
        description="The window the burst threshold counts in, e.g. 1m, 5m or 1h. Default 5m. A query can set its own."
        placeholder="5m"
        width={20}
        value={settings.burstWindow}
        error={burstWindowError(settings.burstWindow)}
        onChange={(burstWindow) => update({ burstWindow })}
      />
      <TextField
        id="audit-detections-rbac-lookback"
        label="RBAC look-back"
        description="binding-to-wildcard-role: how far before a query's time range role writes are read, so that a new binding to a role created earlier is still judged (e.g. 24h, 7d or 90m). Longer look-backs read more audit log. 0 turns it off: only roles written within the range are known. Default 24h."
        placeholder="24h"
        width={20}
        value={settings.rbacLookback}
        error={lookbackError(settings.rbacLookback)}
        onChange={(rbacLookback) => update({ rbacLookback })}
      />
    </FieldSet>
  );
}

function RuleRowEditor({
  index,
  row,
  taken,
  onChange,
  onRemove,
}: {
  index: number;
  row: RuleRow;
  /** Rules of other rows: each rule has one row. */
  taken: string[];
  onChange: (patch: Partial<RuleRow>) => void;
  onRemove: () => void;
}) {
  const id = `audit-detections-rule-${index}`;
  const ruleOptions = RULE_OPTIONS.filter((o) => !taken.includes(o.value));
  let ruleError: string | undefined;
  if (!row.rule) {
    ruleError = 'Pick a rule: the row is not saved until then.';
  } else if (!KNOWN_RULES.has(row.rule)) {
    ruleError = `Unknown rule ${JSON.stringify(row.rule)}. ${FAILS}`;
  }
  const empty = row.rule && !pruneAllow(row.allow);
  return (
    <Box borderStyle="solid" borderColor="weak" borderRadius="default" padding={1.5} data-testid={id}>
      <Stack direction="column" gap={1}>
        <Stack direction="row" gap={1} alignItems="flex-start" justifyContent="space-between">
          <InlineField label="Rule" labelWidth={LABEL_WIDTH} invalid={Boolean(ruleError)} error={ruleError}>
            <Combobox<string>
              id={id}
              width={40}
              placeholder="Pick a rule"
              options={ruleOptions}
              value={row.rule ? (RULE_OPTIONS.find((o) => o.value === row.rule) ?? { value: row.rule }) : null}
              onChange={(option) => onChange({ rule: option.value })}
            />
          </InlineField>
          <IconButton name="trash-alt" tooltip={`Remove rule allow-list ${index + 1}`} onClick={onRemove} />
        </Stack>
        <InlineFieldRow>
          {DETECTION_ALLOW_KEYS.map((key) => {
            const f = ALLOW_FIELDS[key];
            const error = key === 'sourceNetworks' ? sourceNetworksError(row.allow.sourceNetworks) : undefined;
            return (
              <InlineField
                key={key}
                label={f.label}
                labelWidth={LABEL_WIDTH}
                tooltip={f.description}
                invalid={Boolean(error)}
                error={error}
              >
                <StringListInput
                  id={`${id}-${key}`}
                  width={32}
                  placeholder={f.placeholder}
                  value={row.allow[key]}
                  onChange={(list) => onChange({ allow: { ...row.allow, [key]: list } })}
                />
              </InlineField>
            );
          })}
        </InlineFieldRow>
        {empty && (
          <Text color="secondary" variant="bodySmall" italic>
            Add at least one value: a rule without allow-lists is not saved.
          </Text>
        )}
      </Stack>
    </Box>
  );
}
