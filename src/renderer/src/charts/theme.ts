import { computed, type ComputedRef } from 'vue'
import { useThemeStore } from '../stores/theme'

/** Chart colours that follow the app theme (ECharts draws on a canvas, so CSS variables do not reach it). */
export interface ChartColors {
  text: string
  muted: string
  grid: string
  axis: string
  series: string[]
  heat: string[]
}

const LIGHT: ChartColors = {
  text: '#1b2330',
  muted: '#5b6676',
  grid: '#e3e7ed',
  axis: '#aab3c0',
  series: ['#2f6fde', '#e8743b', '#1f9d55', '#9b59b6', '#d0342c', '#13a1a1', '#b58900', '#7a7a7a'],
  heat: ['#f4f6fa', '#c6dbef', '#6baed6', '#2171b5', '#08306b']
}

const DARK: ChartColors = {
  text: '#e6e9ee',
  muted: '#9aa5b4',
  grid: '#2c323c',
  axis: '#4a5361',
  series: ['#6ea0ff', '#ff9f5a', '#45c47e', '#c38bff', '#ff6b61', '#3fd0d0', '#e0c050', '#b0b0b0'],
  heat: ['#1c2027', '#1f3b5c', '#2f6fb0', '#6ea0ff', '#d6e6ff']
}

export function useChartColors(): ComputedRef<ChartColors> {
  const theme = useThemeStore()
  return computed(() => (theme.theme === 'dark' ? DARK : LIGHT))
}

/** The axis styling every cartesian chart shares. */
export function axisStyle(colors: ChartColors): Record<string, unknown> {
  return {
    axisLine: { lineStyle: { color: colors.axis } },
    axisLabel: { color: colors.muted },
    nameTextStyle: { color: colors.muted },
    splitLine: { lineStyle: { color: colors.grid } }
  }
}
