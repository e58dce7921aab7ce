// Geometry of the benchmark bar charts (src/bench/chart.ts): pure numbers, checked without a DOM.
import * as assert from 'node:assert/strict';
import { DEFAULT_LAYOUT, barChart, chartSummary, clip } from '../../src/bench/chart';

const fmt = (x: number) => x.toFixed(1);

describe('bench bar chart geometry', () => {
  it('scales bars linearly to the largest value, one row per datum, in order', () => {
    const g = barChart(
      [
        { label: 'naive', value: 1 },
        { label: 'lru', value: 2 },
        { label: 'all-resident', value: 4 },
      ],
      fmt,
    );
    assert.equal(g.max, 4);
    assert.equal(g.bars.length, 3);
    assert.equal(g.bars[2].width, Math.round(g.plotWidth * 10) / 10);
    assert.ok(Math.abs(g.bars[1].width - g.plotWidth / 2) < 0.1);
    assert.ok(Math.abs(g.bars[0].width - g.plotWidth / 4) < 0.1);
    // Rows stack top to bottom without overlap and fit the height.
    for (let i = 1; i < g.bars.length; i++)
      assert.ok(g.bars[i].y >= g.bars[i - 1].y + g.bars[i - 1].height);
    const last = g.bars[g.bars.length - 1];
    assert.ok(last.y + last.height <= g.height);
    // Everything inside the view box: value text starts right of the bar, inside the width.
    for (const b of g.bars) {
      assert.equal(b.x, g.plotX);
      assert.ok(b.valueX >= b.x + b.width);
      assert.ok(b.valueX + DEFAULT_LAYOUT.valueWidth <= g.width + 0.1);
      assert.equal(b.labelX, DEFAULT_LAYOUT.labelWidth);
    }
    assert.deepEqual(
      g.bars.map((b) => b.valueText),
      ['1.0', '2.0', '4.0'],
    );
  });

  it('draws no bar for a missing value and prints —; keeps tiny values visible', () => {
    const g = barChart(
      [
        { label: 'a', value: null },
        { label: 'b', value: 0.001 },
        { label: 'c', value: 1000 },
        { label: 'd', value: 0 },
      ],
      fmt,
    );
    assert.equal(g.bars[0].width, 0);
    assert.equal(g.bars[0].valueText, '—');
    assert.equal(g.bars[0].value, null);
    assert.equal(g.bars[1].width, 1);
    assert.equal(g.bars[3].width, 0);
    assert.equal(g.bars[3].valueText, '0.0');
  });

  it('handles no data and all-missing data without dividing by zero', () => {
    const empty = barChart([], fmt);
    assert.equal(empty.bars.length, 0);
    assert.equal(empty.max, 0);
    assert.ok(empty.height > 0);
    const none = barChart([{ label: 'x', value: null }], fmt);
    assert.equal(none.bars[0].width, 0);
    assert.ok(Number.isFinite(none.bars[0].valueX));
  });

  it('clips long labels and summarises the chart for screen readers', () => {
    assert.equal(clip('short'), 'short');
    assert.equal(clip('a'.repeat(30), 10), `${'a'.repeat(9)}…`);
    const g = barChart(
      [
        { label: 'lru', value: 2.4 },
        { label: 'naive', value: null },
      ],
      fmt,
    );
    assert.equal(
      chartSummary('Time to first token', 'ms', g.bars, true),
      'Time to first token (ms) by variant: lru 2.4, naive —; lower is better.',
    );
  });
});
