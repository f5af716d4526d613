/* global window, document */
/*
 * Progressive enhancement of the console: the chart of a segment's sync history (uPlot). Every page
 * reads without this file; htmx (loaded beside it) swaps the membership lookup in place.
 */
;(function () {
  'use strict'

  function drawChart(figure) {
    if (figure.dataset.drawn === 'yes' || typeof window.uPlot !== 'function') return
    var data
    try {
      data = JSON.parse(figure.dataset.series || '[]')
    } catch {
      return
    }
    if (!Array.isArray(data) || data.length !== 4 || data[0].length === 0) return
    figure.dataset.drawn = 'yes'
    var bars = window.uPlot.paths.bars({ size: [0.6, 40] })
    var width = Math.max(280, Math.min(figure.clientWidth || 640, 960))
    var options = {
      width: width,
      height: 260,
      scales: {
        // Room for the first and last bars; one sync alone would stretch the axis over years, so it
        // gets the day around it.
        x: {
          time: true,
          range: function (_u, min, max) {
            var pad = min === max ? 43200 : (max - min) * 0.05
            return [min - pad, max + pad]
          }
        },
        size: { auto: true },
        delta: { auto: true }
      },
      axes: [
        {},
        { scale: 'size', label: 'members' },
        { scale: 'delta', side: 1, label: 'added / removed', grid: { show: false } }
      ],
      series: [
        {},
        { label: 'Size', scale: 'size', stroke: '#1d4ed8', width: 2, points: { show: true } },
        {
          label: 'Added',
          scale: 'delta',
          fill: 'rgba(22, 128, 61, 0.55)',
          stroke: '#166534',
          paths: bars,
          points: { show: false }
        },
        {
          label: 'Removed',
          scale: 'delta',
          fill: 'rgba(185, 28, 28, 0.55)',
          stroke: '#991b1b',
          paths: bars,
          points: { show: false },
          value: function (_u, v) {
            return v === null || v === undefined ? '—' : String(-v)
          }
        }
      ]
    }
    var plot = new window.uPlot(options, data, figure)
    plot.root.setAttribute('aria-hidden', 'true')
  }

  function enhance(root) {
    var figures = (root || document).querySelectorAll('figure.chart[data-series]')
    for (var i = 0; i < figures.length; i++) drawChart(figures[i])
  }

  document.addEventListener('DOMContentLoaded', function () {
    enhance(document)
  })
  document.addEventListener('htmx:load', function (event) {
    enhance(event.target)
  })
})()
