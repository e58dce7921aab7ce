import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkModelFolder } from '../../src/commands/model-folder';

describe('model folder check', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'localmoe-model-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('rejects a folder without config.json, naming the fix', async () => {
    const r = await checkModelFolder(dir);
    assert.deepEqual(r, {
      ok: false,
      message: `config.json not found in ${dir}: choose a Hugging Face model folder`,
    });
  });

  it('rejects invalid JSON', async () => {
    fs.writeFileSync(path.join(dir, 'config.json'), '{"architectures": [');
    const r = await checkModelFolder(dir);
    assert.ok(!r.ok && /not valid JSON/.test(r.message));
  });

  it('accepts a Mixtral folder without warnings', async () => {
    fs.writeFileSync(
      path.join(dir, 'config.json'),
      JSON.stringify({ architectures: ['MixtralForCausalLM'], num_local_experts: 8 }),
    );
    fs.writeFileSync(path.join(dir, 'model-00001-of-00002.safetensors'), '');
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), '{}');
    assert.deepEqual(await checkModelFolder(dir), {
      ok: true,
      name: 'MixtralForCausalLM',
      warnings: [],
    });
  });

  it('warns about a dense model and missing files', async () => {
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'llama' }));
    const r = await checkModelFolder(dir);
    assert.ok(r.ok);
    assert.equal(r.warnings.length, 3);
  });
});
