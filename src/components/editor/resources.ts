import { useEffect, useMemo, useState } from 'react';
import { TimeRange } from '@grafana/data';
import { ComboboxOption } from '@grafana/ui';

import type { DataSource } from '../../datasource';
import { DimensionInfo, DimensionValue, DIMENSIONS } from '../../types';

/** The datasource methods the editor needs: GET /dimensions and GET /values. */
export type EditorDataSource = Pick<DataSource, 'getDimensions' | 'getValues'>;

/** Loads the values of a dimension over the editor's time range. */
export type ValuesLoader = (dim: string) => Promise<DimensionValue[]>;

export const STATIC_DIMENSIONS: DimensionInfo[] = DIMENSIONS.map((d) => ({ name: d.name, label: d.label }));

export function dimensionOptions(dimensions: readonly DimensionInfo[]): Array<ComboboxOption<string>> {
  return dimensions.map((d) => ({ value: d.name, label: d.label, description: d.name }));
}

const dimensionCache = new WeakMap<object, Promise<DimensionInfo[]>>();

/**
 * The dimensions the backend can group by (GET /dimensions), fetched once per datasource; the
 * static list of types.ts while loading, on error or when the backend lists none.
 */
export function useDimensions(datasource: Partial<EditorDataSource> | undefined): DimensionInfo[] {
  const [dimensions, setDimensions] = useState<DimensionInfo[]>(STATIC_DIMENSIONS);
  useEffect(() => {
    if (!datasource || typeof datasource.getDimensions !== 'function') {
      return;
    }
    let promise = dimensionCache.get(datasource);
    if (!promise) {
      promise = Promise.resolve(datasource.getDimensions());
      dimensionCache.set(datasource, promise);
    }
    let active = true;
    promise.then(
      (dims) => {
        const valid = Array.isArray(dims) ? dims.filter((d) => d && typeof d.name === 'string' && d.name) : [];
        if (active && valid.length > 0) {
          setDimensions(valid.map((d) => ({ name: d.name, label: d.label || d.name })));
        }
      },
      () => {
        // Keep the static list; try again next time an editor opens.
        dimensionCache.delete(datasource);
      }
    );
    return () => {
      active = false;
    };
  }, [datasource]);
  return dimensions;
}

/**
 * A loader of dimension values (GET /values) over a time range. Each dimension is fetched once,
 * when a picker first asks for it; failures are not cached.
 */
export function createValuesLoader(
  datasource: Partial<EditorDataSource> | undefined,
  range: TimeRange | undefined
): ValuesLoader {
  const cache = new Map<string, Promise<DimensionValue[]>>();
  return (dim: string) => {
    if (!datasource || typeof datasource.getValues !== 'function') {
      return Promise.resolve([]);
    }
    let promise = cache.get(dim);
    if (!promise) {
      promise = Promise.resolve(datasource.getValues(dim, range)).then((values) =>
        Array.isArray(values) ? values : []
      );
      promise.catch(() => cache.delete(dim));
      cache.set(dim, promise);
    }
    return promise;
  };
}

/** {@link createValuesLoader} for the editor's datasource and time range, new when either changes. */
export function useValuesLoader(
  datasource: Partial<EditorDataSource> | undefined,
  range: TimeRange | undefined
): ValuesLoader {
  const from = range?.from.valueOf();
  const to = range?.to.valueOf();
  // The range is keyed by its bounds: Grafana may pass a new object on every render.
  // eslint-disable-next-line react-hooks/exhaustive-deps
  return useMemo(() => createValuesLoader(datasource, range), [datasource, from, to]);
}
