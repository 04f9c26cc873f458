import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import pluginVue from 'eslint-plugin-vue'
import globals from 'globals'
import prettier from 'eslint-config-prettier'

// Formatting belongs to Prettier (`npm run lint` checks it): eslint-config-prettier, last, turns off the stylistic
// rules that would fight it. The process boundaries of DESIGN.md section 2 are enforced here, not just described:
// the engine and the shared contract never import electron, and the renderer imports nothing from src/main.
export default tseslint.config(
  { ignores: ['out/**', 'node_modules/**', 'test-artifacts/**', 'resources/**', 'test/fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...pluginVue.configs['flat/recommended'],
  {
    files: ['**/*.vue'],
    languageOptions: { parserOptions: { parser: tseslint.parser } }
  },
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'vue/multi-word-component-names': 'off',
      'vue/max-attributes-per-line': 'off',
      'vue/singleline-html-element-content-newline': 'off',
      'vue/html-self-closing': 'off'
    }
  },
  {
    files: ['src/renderer/**'],
    languageOptions: { globals: { ...globals.browser } },
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/main/**', 'electron', 'node:*'],
              message: 'The renderer talks to the engine only through the api of src/shared.'
            }
          ]
        }
      ]
    }
  },
  {
    files: ['src/main/engine/**', 'src/main/datasets/**', 'src/main/cli/**', 'src/shared/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'electron',
              message: 'The engine, datasets, CLI and contract run without Electron (worker, command line, tests).'
            }
          ],
          patterns: [{ group: ['**/renderer/**'], message: 'Nothing outside the renderer imports from it.' }]
        }
      ]
    }
  },
  prettier
)
