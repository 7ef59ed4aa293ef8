import fs from 'fs';
import path from 'path';

import { DETECTION_RULES, SEVERITIES } from '../../components/editor/model';
import pluginJson from '../../plugin.json';

/**
 * Bundled dashboards must work on any Grafana: every datasource reference goes through the
 * `${datasource}` variable, never a UID of one installation. (The Go test in pkg/dashboards runs
 * every target through the backend.)
 */
const DASHBOARDS_DIR = path.join(__dirname, '..');
const PLUGIN_ID = pluginJson.id;
const DATASOURCE_VAR = '${datasource}';
/** Grafana's own datasource for the built-in "Annotations & Alerts". */
const GRAFANA_BUILTIN = '-- Grafana --';

const files = fs.readdirSync(DASHBOARDS_DIR).filter((f) => f.endsWith('.json'));

/** Every `datasource` value in a JSON document, with its JSON path. */
export function datasourceRefs(node: unknown, at = '$'): Array<{ path: string; value: unknown }> {
  const out: Array<{ path: string; value: unknown }> = [];
  if (Array.isArray(node)) {
    node.forEach((item, i) => out.push(...datasourceRefs(item, `${at}[${i}]`)));
  } else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'datasource') {
        out.push({ path: `${at}.${key}`, value });
      }
      out.push(...datasourceRefs(value, `${at}.${key}`));
    }
  }
  return out;
}

/** Why a datasource reference is not allowed, or undefined when it is. */
export function badReference(value: unknown): string | undefined {
  if (value === DATASOURCE_VAR) {
    return undefined;
  }
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const { uid, type } = value as { uid?: unknown; type?: unknown };
    if (uid === DATASOURCE_VAR && (type === undefined || type === PLUGIN_ID)) {
      return undefined;
    }
    if (uid === GRAFANA_BUILTIN && type === 'grafana') {
      return undefined;
    }
    return `hard-coded datasource ${JSON.stringify(value)}`;
  }
  return `datasource ${JSON.stringify(value)}: use ${DATASOURCE_VAR}`;
}

describe('bundled dashboards', () => {
  it('exist and are all listed in plugin.json includes', () => {
    expect(files.length).toBeGreaterThanOrEqual(3);
    const included = (pluginJson.includes ?? [])
      .filter((i) => i.type === 'dashboard')
      .map((i) => i.path)
      .sort();
    expect(included).toEqual(files.map((f) => `dashboards/${f}`).sort());
  });

  it.each(files)('%s references the datasource only through ${datasource}', (file) => {
    const dashboard = JSON.parse(fs.readFileSync(path.join(DASHBOARDS_DIR, file), 'utf8'));
    const refs = datasourceRefs(dashboard);
    expect(refs.length).toBeGreaterThan(0);
    const bad = refs
      .map((r) => ({ ...r, problem: badReference(r.value) }))
      .filter((r) => r.problem)
      .map((r) => `${r.path}: ${r.problem}`);
    expect(bad).toEqual([]);
    // No import-time inputs (${DS_...}) either: the variable picks the datasource.
    expect(dashboard.__inputs ?? []).toEqual([]);
    expect(JSON.stringify(dashboard)).not.toMatch(/\$\{DS_[A-Z0-9_]*\}/);
  });

  it.each(files)('%s has a datasource variable of this plugin type', (file) => {
    const dashboard = JSON.parse(fs.readFileSync(path.join(DASHBOARDS_DIR, file), 'utf8'));
    const variable = dashboard.templating.list.find((v: { name: string }) => v.name === 'datasource');
    expect(variable).toMatchObject({ type: 'datasource', query: PLUGIN_ID });
  });
});

/** Every panel target of a dashboard, rows' panels included. */
function targetsOf(dashboard: { panels?: Panel[] }): Array<{ panel: string; target: Record<string, unknown> }> {
  const out: Array<{ panel: string; target: Record<string, unknown> }> = [];
  const walk = (panels: Panel[] = []) => {
    for (const p of panels) {
      for (const target of p.targets ?? []) {
        out.push({ panel: p.title ?? '', target });
      }
      walk(p.panels);
    }
  };
  walk(dashboard.panels);
  return out;
}

interface Panel {
  title?: string;
  targets?: Array<Record<string, unknown>>;
  panels?: Panel[];
}

interface Variable {
  name: string;
  type: string;
  query?: unknown;
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string;
  current?: { value?: string | string[] };
  options?: Array<{ value: string }>;
}

describe('severity and rule variables of detections', () => {
  const dashboard = JSON.parse(fs.readFileSync(path.join(DASHBOARDS_DIR, 'security-detections.json'), 'utf8'));
  const variables: Variable[] = dashboard.templating.list;

  it.each([
    ['severity', [...SEVERITIES]],
    ['rule', DETECTION_RULES.map((r) => r.id)],
  ])('has a multi-value custom variable %s over every value, All (*) by default', (name, values) => {
    const v = variables.find((x) => x.name === name);
    expect(v).toMatchObject({ type: 'custom', multi: true, includeAll: true, allValue: '*' });
    expect(String(v!.query).split(',')).toEqual(values);
    expect(v!.options?.filter((o) => o.value !== '$__all').map((o) => o.value)).toEqual(values);
    expect(v!.current?.value).toEqual(['$__all']);
  });

  it.each(files)('%s: every detections target uses both variables', (file) => {
    const d = JSON.parse(fs.readFileSync(path.join(DASHBOARDS_DIR, file), 'utf8'));
    const targets = targetsOf(d).filter((t) => t.target.queryType === 'detections');
    if (file === 'security-detections.json') {
      expect(targets.length).toBeGreaterThan(0);
    }
    const wrong = targets
      .filter(({ target }) => JSON.stringify([target.severities, target.rules]) !== '[["$severity"],["$rule"]]')
      .map(
        ({ panel, target }) =>
          `${panel}: severities ${JSON.stringify(target.severities)}, rules ${JSON.stringify(target.rules)}`
      );
    expect(wrong).toEqual([]);
    if (targets.length > 0) {
      const names = d.templating.list.map((v: Variable) => v.name);
      expect(names).toEqual(expect.arrayContaining(['severity', 'rule']));
    }
  });
});

describe('badReference', () => {
  it('accepts the variable, as a string or an object', () => {
    expect(badReference('${datasource}')).toBeUndefined();
    expect(badReference({ type: PLUGIN_ID, uid: '${datasource}' })).toBeUndefined();
    expect(badReference({ type: 'grafana', uid: '-- Grafana --' })).toBeUndefined();
  });

  it('rejects hard-coded UIDs and names', () => {
    expect(badReference({ type: PLUGIN_ID, uid: 'k8saudit-sample' })).toMatch(/hard-coded/);
    expect(badReference({ type: PLUGIN_ID, uid: 'P1809F7CD0C75ACF3' })).toMatch(/hard-coded/);
    expect(badReference('Kubernetes Audit Logs (sample)')).toMatch(/use \$\{datasource\}/);
    expect(badReference(null)).toBeDefined();
  });

  it('finds references at any depth', () => {
    const refs = datasourceRefs({ panels: [{ datasource: 'x', targets: [{ datasource: { uid: 'y' } }] }] });
    expect(refs.map((r) => r.path)).toEqual(['$.panels[0].datasource', '$.panels[0].targets[0].datasource']);
  });
});
