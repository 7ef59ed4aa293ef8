import { ScopedVars, TypedVariableModel } from '@grafana/data';
import { TemplateSrv } from '@grafana/runtime';

/**
 * A small stand-in for Grafana's TemplateSrv that follows its interpolation rules closely enough
 * for the datasource tests: $var, ${var}, ${var:format} and [[var]] are replaced; scoped variables
 * win over dashboard variables; a function format is called with the raw value (a string, or an
 * array for multi-value variables); the default format of a multi-value variable is glob
 * ({a,b}); unknown variables are left as they are.
 */
export class FakeTemplateSrv implements TemplateSrv {
  // Grafana's variableRegex (public/app/features/variables/utils.ts).
  private readonly regex = /\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\${(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?}/g;

  constructor(private readonly variables: Record<string, string | string[]>) {}

  getVariables(): TypedVariableModel[] {
    return [];
  }

  containsTemplate(target?: string): boolean {
    return !!target && new RegExp(this.regex.source).test(target);
  }

  updateTimeRange(): void {}

  replace(target?: string, scopedVars?: ScopedVars, format?: string | Function): string {
    if (!target) {
      return target ?? '';
    }
    return target.replace(this.regex, (match, var1, var2, fmt2, var3, _fieldPath, fmt3) => {
      const name: string = var1 || var2 || var3;
      const explicitFormat: string | undefined = fmt2 || fmt3;
      let value: string | string[] | undefined;
      if (scopedVars && name in scopedVars) {
        value = scopedVars[name]!.value as string | string[];
      } else if (name in this.variables) {
        value = this.variables[name];
      }
      if (value === undefined) {
        return match;
      }
      const useFormat = explicitFormat ?? format;
      if (typeof useFormat === 'function') {
        return useFormat(value, { name });
      }
      if (useFormat === 'csv') {
        return Array.isArray(value) ? value.join(',') : value;
      }
      if (Array.isArray(value)) {
        return value.length === 1 ? value[0] : `{${value.join(',')}}`;
      }
      return value;
    });
  }
}
