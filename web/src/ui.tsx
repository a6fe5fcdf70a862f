/**
 * @module web/ui
 * Small pieces every view uses: an error line announced to screen readers, the source
 * filter (fed by GET /api/sources), and tables with their captions and headings.
 */
import type { ComponentChildren } from 'preact';
import { get, type SourceStatus } from './api';
import { useLoad } from './hooks';

export function Failure({ error }: { error: string | null | undefined }) {
  if (!error) return null;
  return (
    <p role="alert" class="error">
      {error}
    </p>
  );
}

/** A "Source" select with "all" first. */
export function SourceFilter({ value, onChange }: { value: string; onChange: (name: string) => void }) {
  const sources = useLoad(() => get<{ sources: SourceStatus[] }>('/api/sources').then((r) => r.sources), []);
  return (
    <label>
      Source
      <select value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        <option value="">all</option>
        {sources.data?.map((s) => (
          <option key={s.name}>{s.name}</option>
        ))}
      </select>
    </label>
  );
}

/** A column heading; `num` aligns numbers right. Falsy entries are left out (columns a role does not see). */
export type Column = string | { label: string; num: true } | false;

/** A scrollable table with a caption (visible or for screen readers only) and column headings. */
export function Table({
  caption,
  showCaption = false,
  columns,
  class: className,
  children,
}: {
  caption: string;
  showCaption?: boolean;
  columns: Column[];
  class?: string;
  children: ComponentChildren;
}) {
  return (
    <div class="table-wrap">
      <table class={className}>
        <caption class={showCaption ? undefined : 'sr-only'}>{caption}</caption>
        <thead>
          <tr>
            {columns.map((c) =>
              c === false ? null : typeof c === 'string' ? (
                <th scope="col" key={c}>
                  {c}
                </th>
              ) : (
                <th scope="col" key={c.label} class="num">
                  {c.label}
                </th>
              ),
            )}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}
